import Crdkafka
public import Logging

/// An in-memory Kafka-protocol cluster for development and tests: librdkafka's mock cluster,
/// listening on loopback TCP. Nothing is persisted; it lives as long as this object.
public final class DevBroker: Sendable {
    // Teardown order: the mock cluster must be destroyed before the handle that hosts it.
    private let cluster: MockCluster
    public let bootstrapServers: String

    public init(partitions: Int, topics: [String], logger: Logger) throws(KafkaError) {
        let handle = try RDKafkaConf.client(RD_KAFKA_PRODUCER, [("client.id", "cashier-kafka-dev")], context: ClientContext(logger: logger))
        let pointer = handle.pointer
        guard let mock = rd_kafka_mock_cluster_new(pointer, 1) else {
            throw KafkaError(.devBroker, "librdkafka could not start a mock cluster")
        }
        cluster = MockCluster(mock, host: handle)
        for topic in topics {
            let error = rd_kafka_mock_topic_create(mock, topic, Int32(partitions), 1)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.devBroker, "cannot create topic \(topic)", error: error) }
        }
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
    }
}

private final class MockCluster: @unchecked Sendable {
    let pointer: OpaquePointer
    let host: RDKafkaHandle

    init(_ pointer: OpaquePointer, host: RDKafkaHandle) {
        self.pointer = pointer
        self.host = host
    }

    deinit {
        rd_kafka_mock_cluster_destroy(pointer)
        // `host` is released after this, destroying the rd_kafka_t the cluster lived in.
    }
}
