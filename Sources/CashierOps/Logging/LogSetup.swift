import Foundation
public import Logging

/// The process's logging: `LineLogHandler` on stderr, so that stdout stays machine-readable
/// (`bootstrap=…`, summaries).
public enum LogSetup {
    /// Bootstraps swift-log once per process at `level`. `json` nil chooses by where stderr
    /// goes: JSON lines when it is not a terminal (collectors read them), readable text on one.
    public static func bootstrap(level: Logger.Level, json: Bool?) {
        let json = json ?? (isatty(STDERR_FILENO) == 0)
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, json: json)
            handler.logLevel = level
            return handler
        }
    }
}
