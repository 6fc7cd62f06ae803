import Crdkafka
import Logging
import Synchronization

/// What librdkafka's callbacks need: reached through `rd_kafka_opaque`, owned by `RDKafkaHandle`.
final class ClientContext: Sendable {
    let logger: Logger
    /// Set by a consumer: called on the poll thread during a rebalance.
    let rebalance = Mutex<(@Sendable (RebalanceEvent) -> [(TopicPartition, Int64)])?>(nil)
    /// Set once the consumer has joined its group (received its first assignment, even empty).
    let joinedGroup = Atomic<Bool>(false)
    /// The consumer's rebalance epoch: advanced by each rebalance callback, read when a record is
    /// returned. Both happen on the poll thread (callbacks run inside `rd_kafka_consumer_poll`),
    /// so a record returned after a callback always sees that callback's epoch.
    let rebalanceEpoch = Atomic<Int>(0)

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ handle: OpaquePointer?) -> ClientContext? {
        guard let handle, let opaque = rd_kafka_opaque(handle) else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// Routes librdkafka's own log lines into swift-log instead of stderr.
    static func installLogging(_ conf: OpaquePointer) {
        rd_kafka_conf_set_log_cb(conf, logCallback)
    }
}

private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, text in
    guard let context = ClientContext.from(handle), let text else { return }
    let message = "librdkafka \(facility.map { String(cString: $0) } ?? ""): \(String(cString: text))"
    switch level {
    case 0...3: context.logger.error("\(message)")
    case 4: context.logger.warning("\(message)")
    case 5, 6: context.logger.info("\(message)")
    default: context.logger.debug("\(message)")
    }
}
