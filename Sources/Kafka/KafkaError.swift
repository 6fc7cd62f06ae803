import Crdkafka

/// An error from the Kafka layer. `description` never contains configuration values, which
/// may hold SASL passwords.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case configuration, connection, produce, consume, commit, delivery, cancelled, devBroker
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let configuration = Code(.configuration)
        public static let connection = Code(.connection)
        public static let produce = Code(.produce)
        public static let consume = Code(.consume)
        public static let commit = Code(.commit)
        public static let delivery = Code(.delivery)
        /// The caller's task was cancelled while it waited on librdkafka.
        public static let cancelled = Code(.cancelled)
        public static let devBroker = Code(.devBroker)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// Whether repeating the operation may succeed (a broker hiccup rather than a bug).
    public let isRetryable: Bool

    init(_ code: Code, _ message: String, isRetryable: Bool = false) {
        self.code = code
        self.message = message
        self.isRetryable = isRetryable
    }

    init(_ code: Code, _ what: String, error: rd_kafka_resp_err_t) {
        let name = String(cString: rd_kafka_err2str(error))
        self.init(code, "\(what): \(name)", isRetryable: Self.isTransient(error))
    }

    static func isTransient(_ error: rd_kafka_resp_err_t) -> Bool {
        switch error {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
            true
        default:
            false
        }
    }

    public var description: String { "kafka \(code): \(message)" }
}
