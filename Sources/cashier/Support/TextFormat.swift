import CashierCore
import Foundation

/// Plain-text output shared by the operator commands (`dlq`, `stats`, `config check`).
enum TextFormat {
    static func timestamp(_ date: Date) -> String {
        Timestamp.rfc3339(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    /// Left-aligned columns separated by two spaces.
    static func columns(_ rows: [[String]], indent: String = "") -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            indent + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// The `--since` argument of `dlq list` and `stats`.
enum SinceArgument {
    /// `30m`, `6h`, `2d`, `45s` back from now, or an RFC 3339 timestamp.
    static func parse(_ text: String, now: Date = Date()) throws -> Date {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let seconds = units[unit], let count = Double(text.dropLast()), count >= 0, count.isFinite {
            return now.addingTimeInterval(-count * seconds)
        }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        throw CLIError("--since \(text) is neither a duration (30m, 6h, 2d) nor a timestamp (2026-11-24T10:00:00Z)")
    }
}
