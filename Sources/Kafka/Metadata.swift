import Crdkafka

enum Metadata {
    /// Blocking: call on a `BlockingQueue`.
    static func partitionCount(_ handle: OpaquePointer, topic: String, timeout: Duration) throws(KafkaError) -> Int {
        let topicHandle = rd_kafka_topic_new(handle, topic, nil)
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let error = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeout.rdKafkaTimeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(.connection, "cannot read metadata of topic \(topic)", error: error)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { throw KafkaError(.connection, "topic \(topic) does not exist") }
        let entry = metadata.pointee.topics[0]
        guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.connection, "topic \(topic) is not available", error: entry.err)
        }
        return Int(entry.partition_cnt)
    }
}
