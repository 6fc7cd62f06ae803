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

    static func actor(_ flag: String?) -> String {
        if let flag, !flag.isEmpty { return flag }
        let user = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? "unknown"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}
