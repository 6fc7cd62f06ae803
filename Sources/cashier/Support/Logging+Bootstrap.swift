import Foundation
import Logging

enum LogSetup {
    /// Logs go to stderr so that stdout stays machine-readable (`bootstrap=…`, summaries).
    /// Level from `CASHIER_LOG_LEVEL` (trace, debug, info, notice, warning, error), default info.
    static func bootstrap() {
        let level = Env.value("CASHIER_LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
