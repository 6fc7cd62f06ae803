import CashierCore
import CashierStore
import Foundation

/// Parsing and checking of the `cashier dlq` arguments, each failure one line naming the fix.
enum DlqArguments {
    static func statuses(_ text: String) throws -> [DeadLetter.Status] {
        if text == "all" { return DeadLetter.Status.allCases }
        guard let status = DeadLetter.Status(rawValue: text) else {
            throw CLIError("--status \(text) is not known; use open, replayed, discarded or all")
        }
        return [status]
    }

    static func channel(_ text: String) throws -> String {
        guard Channel(rawValue: text) != nil else { throw CLIError("--channel \(text) is not known; use card, alipay or wechat") }
        return text
    }

    /// `30m`, `6h`, `2d`, `45s` back from now, or an RFC 3339 timestamp.
    static func since(_ text: String, now: Date = Date()) throws -> Date {
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

    static func actor(_ flag: String?) -> String {
        if let flag, !flag.isEmpty { return flag }
        let user = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? "unknown"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}
