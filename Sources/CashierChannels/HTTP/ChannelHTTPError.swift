/// How a channel exchange ended without a complete answer, when the HTTP client's own error
/// does not say it. Never carries a byte of the request or the answer.
public struct ChannelHTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case deadlineExceeded = "deadline_exceeded"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The exchange's one deadline passed before the whole answer (head and body) arrived.
        public static let deadlineExceeded = Code(.deadlineExceeded)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public static func deadlineExceeded(after timeout: Duration) -> ChannelHTTPError {
        ChannelHTTPError(code: .deadlineExceeded, message: "no complete answer within \(timeout)")
    }

    public var description: String { "\(code): \(message)" }
}
