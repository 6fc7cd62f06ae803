import Foundation

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
