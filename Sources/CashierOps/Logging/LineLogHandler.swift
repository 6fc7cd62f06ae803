import CashierCore
import CashierWorker
import Foundation
public import Logging

/// One line per log record on stderr, as JSON or as text, with secrets and saved credentials
/// masked (`Redaction`) in the message and in every metadata value.
public struct LineLogHandler: LogHandler {
    public let label: String
    public let json: Bool
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String, json: Bool) {
        self.label = label
        self.json = json
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        FileHandle.standardError.write(Data((line(for: event, at: Date()) + "\n").utf8))
    }

    /// The line `log(event:)` writes, without its newline; apart so that tests can read it.
    func line(for event: LogEvent, at date: Date) -> String {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let timestamp = Timestamp.rfc3339(millisecondsSinceEpoch: Int64(date.timeIntervalSince1970 * 1000))
        let message = Redaction.mask("\(event.message)")
        if json {
            // Metadata first, so a metadata key can never shadow the four fixed members.
            var members = [String: String]()
            for (key, value) in fields { members[key] = Redaction.mask(metadataKey: key, "\(value)") }
            members["ts"] = timestamp
            members["level"] = event.level.rawValue
            members["logger"] = label
            members["msg"] = message
            return EventJSON.text(members)
        }
        let rendered = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Redaction.mask(metadataKey: $0.key, "\($0.value)"))" }.joined(separator: " ")
        return "\(timestamp) \(event.level) \(label): \(message)\(rendered.isEmpty ? "" : " " + rendered)"
    }
}
