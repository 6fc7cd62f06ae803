import Logging
import Synchronization

/// A logger that keeps every line it is given, to check what librdkafka said through it.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "kafka-tests") { _ in Handler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    var messages: [String] { lines.withLock { $0 } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.lines.withLock { $0.append("\(event.level): \(event.message)") }
        }
    }
}
