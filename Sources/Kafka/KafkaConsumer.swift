import Crdkafka
import Synchronization
public import Logging

/// A consumer in a consumer group with manual offsets: nothing is stored or committed
/// automatically (`enable.auto.commit=false`, `enable.auto.offset.store=false`); the owner
/// commits explicit offsets once the work they cover is durable.
///
/// Rebalancing is cooperative (`cooperative-sticky`) unless the operator chooses otherwise; the
/// eager protocol is handled too.
public final class KafkaConsumer: Sendable {
    private let handle: RDKafkaHandle
    /// poll and close run here, one at a time.
    private let pollQueue = BlockingQueue(label: "cashier.kafka.consumer.poll")
    /// commit runs here, so a commit never waits behind a poll's timeout.
    private let commitQueue = BlockingQueue(label: "cashier.kafka.consumer.commit")
    private let logger: Logger

    public init(
        configuration: KafkaConfiguration, groupID: String, topics: [String], logger: Logger,
        onRebalance: @escaping RebalanceHandler = { _ in [] }
    ) throws(KafkaError) {
        try configuration.validate()
        let defaults: [(key: String, value: String)] = [
            ("bootstrap.servers", configuration.bootstrapServers),
            ("client.id", configuration.clientID),
            ("group.id", groupID),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            // A new group reads from the beginning: no order is ever skipped.
            ("auto.offset.reset", "earliest"),
            ("partition.assignment.strategy", "cooperative-sticky"),
            // Bounds the records prefetched in memory per process.
            ("queued.max.messages.kbytes", "16384"),
            // A real broker answers a fetch as soon as data arrives; this only bounds the wait
            // when idle. (librdkafka's mock cluster always waits it out: see kafka-dev.)
            ("fetch.wait.max.ms", "100"),
        ]
        let context = ClientContext(logger: logger)
        context.rebalance.withLock { $0 = onRebalance }
        self.handle = try RDKafkaConf.client(RD_KAFKA_CONSUMER, defaults + configuration.options, context: context) {
            rd_kafka_conf_set_rebalance_cb($0, rebalanceCallback)
        }
        self.logger = logger
        let pointer = handle.pointer
        rd_kafka_poll_set_consumer(pointer)
        let list = makePartitionList(topics.map { (TopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA), 0) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let error = rd_kafka_subscribe(pointer, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, "cannot subscribe to \(topics)", error: error) }
    }

    /// A consumer outside any group that reads the given partitions from their beginning and
    /// never commits: for tools that observe a topic (the demo's result counter, tests).
    public init(configuration: KafkaConfiguration, readingFromBeginning partitions: [TopicPartition], logger: Logger) throws(KafkaError) {
        try configuration.validate()
        let defaults: [(key: String, value: String)] = [
            ("bootstrap.servers", configuration.bootstrapServers),
            ("client.id", configuration.clientID),
            // librdkafka wants a group id even for manual assignment; it is never joined.
            ("group.id", "cashier-observer"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ]
        self.handle = try RDKafkaConf.client(RD_KAFKA_CONSUMER, defaults + configuration.options, context: ClientContext(logger: logger))
        self.logger = logger
        let pointer = handle.pointer
        rd_kafka_poll_set_consumer(pointer)
        let list = makePartitionList(partitions.map { ($0, Int64(RD_KAFKA_OFFSET_BEGINNING)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let error = rd_kafka_assign(pointer, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, "cannot assign partitions", error: error) }
    }

    /// Waits up to `timeout` for the first record, then takes whatever else is ready, up to
    /// `maxMessages`. Rebalance callbacks run inside this call, so the batch may hold records of
    /// partitions revoked meanwhile: each record carries the rebalance epoch current when it was
    /// returned (`KafkaMessage.rebalanceEpoch`), for the owner to tell them apart.
    public func poll(maxMessages: Int, timeout: Duration) async throws(KafkaError) -> [KafkaMessage] {
        let handle = self.handle
        let logger = self.logger
        let milliseconds = timeout.rdKafkaTimeoutMilliseconds
        return try await pollQueue.run { () throws(KafkaError) in
            let pointer = handle.pointer
            let context = handle.clientContext
            var messages: [KafkaMessage] = []
            var wait = milliseconds
            while messages.count < maxMessages, let raw = rd_kafka_consumer_poll(pointer, wait) {
                wait = 0
                defer { rd_kafka_message_destroy(raw) }
                let error = raw.pointee.err
                if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                    // Read after the poll returned: any rebalance that ran inside it has advanced the epoch.
                    messages.append(KafkaMessage(raw, rebalanceEpoch: context.rebalanceEpoch.load(ordering: .relaxed)))
                } else if error != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    // Consumer errors are informational: librdkafka keeps retrying by itself.
                    logger.warning("kafka consumer: \(String(cString: rd_kafka_err2str(error)))")
                }
            }
            return messages
        }
    }

    /// Commits `(partition, next offset to read)` pairs synchronously.
    public func commit(_ offsets: [(TopicPartition, Int64)]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let handle = self.handle
        try await commitQueue.run { () throws(KafkaError) in try Self.commitNow(handle.pointer, offsets) }
    }

    static func commitNow(_ pointer: OpaquePointer?, _ offsets: [(TopicPartition, Int64)]) throws(KafkaError) {
        let list = makePartitionList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let error = rd_kafka_commit(pointer, list, 0)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(.commit, "offset commit failed", error: error)
        }
    }

    /// Whether the consumer is a member of its group (for readiness probes): set by an
    /// assignment, cleared when the group dropped it.
    public var hasJoinedGroup: Bool { handle.clientContext.joinedGroup.load(ordering: .relaxed) }

    /// Per assigned partition: how many records are on the broker past this consumer's fetch
    /// position (from librdkafka's cached watermarks; no broker round trip).
    public func lag() -> [(TopicPartition, Int64)] {
        let pointer = handle.pointer
        var assignment: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        guard rd_kafka_assignment(pointer, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR, let assignment else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(assignment) }
        rd_kafka_position(pointer, assignment)
        return assignment.pointee.entries.map { entry in
            var low: Int64 = 0
            var high: Int64 = 0
            rd_kafka_get_watermark_offsets(pointer, entry.topic, entry.partition, &low, &high)
            let position = entry.offset >= 0 ? entry.offset : low
            return (TopicPartition(topic: entry.topic, partition: entry.partition), max(0, high - position))
        }
    }

    /// Leaves the group cleanly (revoking partitions through the rebalance handler).
    public func close() async {
        let handle = self.handle
        let logger = self.logger
        _ = try? await pollQueue.run { () throws(KafkaError) in
            let pointer = handle.pointer
            let error = rd_kafka_consumer_close(pointer)
            if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning("kafka consumer close: \(String(cString: rd_kafka_err2str(error)))")
            }
        }
    }
}

extension KafkaMessage {
    init(_ raw: UnsafeMutablePointer<rd_kafka_message_t>, rebalanceEpoch: Int) {
        let message = raw.pointee
        let value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? []
        let key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) }
        let timestamp = rd_kafka_message_timestamp(raw, nil)
        var headers: [KafkaHeader] = []
        var list: OpaquePointer? = nil
        if rd_kafka_message_headers(raw, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var bytes: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let headerValue = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: headerValue))
                index += 1
            }
        }
        self.init(
            topic: String(cString: rd_kafka_topic_name(message.rkt)), partition: message.partition,
            offset: message.offset, key: key, value: value, headers: headers,
            timestampMilliseconds: timestamp >= 0 ? timestamp : nil, rebalanceEpoch: rebalanceEpoch)
    }
}

/// Runs on the poll thread inside `rd_kafka_consumer_poll` (or `rd_kafka_consumer_close`).
/// Each call is one rebalance step and gets the next epoch before the handler hears of it.
private let rebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { handle, error, partitions, opaque in
    guard let handle, let partitions, let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let handler = context.rebalance.withLock { $0 }
    let epoch = context.rebalanceEpoch.wrappingAdd(1, ordering: .relaxed).newValue
    let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
    let list = partitions.pointee.entries.map { TopicPartition(topic: $0.topic, partition: $0.partition) }
    switch error {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        context.logger.info("kafka: partitions assigned", metadata: ["partitions": "\(list)", "epoch": "\(epoch)"])
        context.joinedGroup.store(true, ordering: .relaxed)
        _ = handler?(.assigned(list, epoch: epoch))
        if cooperative {
            if let failure = rd_kafka_incremental_assign(handle, partitions) {
                context.logger.error("kafka: incremental assign failed: \(String(cString: rd_kafka_error_string(failure)))")
                rd_kafka_error_destroy(failure)
            }
        } else {
            rd_kafka_assign(handle, partitions)
        }
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        let lost = rd_kafka_assignment_lost(handle) != 0
        context.logger.info("kafka: partitions \(lost ? "lost" : "revoked")", metadata: ["partitions": "\(list)", "epoch": "\(epoch)"])
        // Lost: the group dropped this member (session timeout, max.poll.interval.ms); it is no
        // member again until the next assignment. A plain revoke keeps it in the group.
        if lost { context.joinedGroup.store(false, ordering: .relaxed) }
        let offsets = handler?(lost ? .lost(list, epoch: epoch) : .revoked(list, epoch: epoch)) ?? []
        if !lost && !offsets.isEmpty {
            do {
                try KafkaConsumer.commitNow(handle, offsets)
            } catch {
                context.logger.warning("kafka: commit before revocation failed; the next owner re-reads those records: \(error)")
            }
        }
        if cooperative {
            if let failure = rd_kafka_incremental_unassign(handle, partitions) {
                rd_kafka_error_destroy(failure)
            }
        } else {
            rd_kafka_assign(handle, nil)
        }
    default:
        // The whole assignment is dropped below: the owner must stop treating it as its own.
        var current: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        var owned: [TopicPartition] = []
        if rd_kafka_assignment(handle, &current) == RD_KAFKA_RESP_ERR_NO_ERROR, let current {
            owned = current.pointee.entries.map { TopicPartition(topic: $0.topic, partition: $0.partition) }
            rd_kafka_topic_partition_list_destroy(current)
        }
        context.logger.error("kafka: rebalance error \(String(cString: rd_kafka_err2str(error))); dropping the assignment", metadata: ["epoch": "\(epoch)"])
        context.joinedGroup.store(false, ordering: .relaxed)
        if !owned.isEmpty { _ = handler?(.lost(owned, epoch: epoch)) }
        rd_kafka_assign(handle, nil)
    }
}
