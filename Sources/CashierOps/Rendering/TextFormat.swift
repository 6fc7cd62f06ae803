import CashierCore
public import Foundation

/// Plain-text output shared by the operator commands (`dlq`, `stats`, `config check`).
public enum TextFormat {
    /// RFC 3339 in UTC, to the millisecond.
    public static func timestamp(_ date: Date) -> String {
        Timestamp.rfc3339(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    /// Left-aligned columns separated by two spaces.
    public static func columns(_ rows: [[String]], indent: String = "") -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            indent + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
