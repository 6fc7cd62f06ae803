import CashierCore
import CashierWorker
import Foundation
import Logging

enum LogSetup {
    /// Logs go to stderr so that stdout stays machine-readable (`bootstrap=…`, summaries).
    /// Level from `Settings.logLevel`, default info. Format from `Settings.logFormat` (`json` or
    /// `text`): JSON lines by default when stderr is not a terminal (collectors read them),
    /// readable text on a terminal.
    static func bootstrap(_ settings: SettingsReader) throws {
        let level = try Logger.Level(rawValue: settings.value(Settings.logLevel)) ?? .info
        let json = try settings.optionalValue(Settings.logFormat).map { $0 == "json" } ?? (isatty(STDERR_FILENO) == 0)
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, json: json)
            handler.logLevel = level
            return handler
        }
    }
}

/// One line per log record on stderr, as JSON or as text, with secrets and saved credentials
/// masked (`Redaction`) in the message and in every metadata value.
struct LineLogHandler: LogHandler {
    let label: String
    let json: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let timestamp = Timestamp.rfc3339(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        let message = Redaction.mask("\(event.message)")
        let line: String
        if json {
            // Metadata first, so a metadata key can never shadow the four fixed members.
            var members = [String: String]()
            for (key, value) in fields { members[key] = Redaction.mask(metadataKey: key, "\(value)") }
            members["ts"] = timestamp
            members["level"] = event.level.rawValue
            members["logger"] = label
            members["msg"] = message
            line = EventJSON.text(members)
        } else {
            let rendered = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Redaction.mask(metadataKey: $0.key, "\($0.value)"))" }.joined(separator: " ")
            line = "\(timestamp) \(event.level) \(label): \(message)\(rendered.isEmpty ? "" : " " + rendered)"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
