import Crdkafka

/// Owns one `rd_kafka_t` and the context its callbacks reach through the opaque pointer.
/// librdkafka handles are thread-safe, hence `@unchecked Sendable`.
final class RDKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    private let context: Unmanaged<ClientContext>

    init(_ pointer: OpaquePointer, context: Unmanaged<ClientContext>) {
        self.pointer = pointer
        self.context = context
    }

    var clientContext: ClientContext { context.takeUnretainedValue() }

    deinit {
        // Destroy first: callbacks may run until rd_kafka_destroy returns, and they use the context.
        rd_kafka_destroy(pointer)
        context.release()
    }
}

extension rd_kafka_topic_partition_list_t {
    /// The entries of a partition list as Swift values.
    var entries: [(topic: String, partition: Int32, offset: Int64)] {
        guard cnt > 0, let elems else { return [] }
        return (0..<Int(cnt)).map { index in
            let element = elems[index]
            return (String(cString: element.topic), element.partition, element.offset)
        }
    }
}

/// Builds a C partition list; the caller destroys it with `rd_kafka_topic_partition_list_destroy`.
func makePartitionList(_ entries: [(TopicPartition, Int64)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))!
    for (partition, offset) in entries {
        let element = rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)!
        element.pointee.offset = offset
    }
    return list
}
