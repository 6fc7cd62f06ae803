import Crdkafka
public import Logging

/// An in-memory Kafka-protocol cluster for development and tests: librdkafka's mock cluster,
/// listening on loopback TCP. Nothing is persisted; it lives as long as this object.
public final class DevBroker: Sendable {
    /// The client that hosts the cluster (`test.mock.num.brokers`): the cluster is its own and
    /// is destroyed with it, so the host is configured with the cluster's address (a host
    /// without `bootstrap.servers` would log a CONFWARN line).
    private let host: RDKafkaHandle
    public let bootstrapServers: String
    /// The cluster's port, whose sockets get TCP_NODELAY (`ListenerNoDelay`).
    private let port: UInt16?

    public init(partitions: Int, topics: [String], logger: Logger) throws(KafkaError) {
        host = try RDKafkaConf.client(
            RD_KAFKA_PRODUCER,
            // Notices of the host itself ("mock cluster enabled: bootstrap.servers replaced") are
            // noise here; the cluster's warnings and errors still reach the log.
            [("client.id", "cashier-kafka-dev"), ("test.mock.num.brokers", "1"), ("log_level", "4")],
            context: ClientContext(logger: logger))
        guard let mock = rd_kafka_handle_mock_cluster(host.pointer) else {
            throw KafkaError(.devBroker, "librdkafka could not start a mock cluster")
        }
        for topic in topics {
            let error = rd_kafka_mock_topic_create(mock, topic, Int32(partitions), 1)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.devBroker, "cannot create topic \(topic)", error: error) }
        }
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
        port = ListenerNoDelay.port(ofBootstrap: bootstrapServers)
        if let port, !ListenerNoDelay.set(onListenerAt: port) {
            logger.notice("could not set TCP_NODELAY on the dev broker's listener (port \(port)); deliveries may wait for delayed acknowledgements (about 40 ms)")
        }
    }

    /// Takes the cluster's broker down or brings it back (for tests of a broker outage).
    func setBroker(up: Bool) {
        guard let mock = rd_kafka_handle_mock_cluster(host.pointer) else { return }
        _ = up ? rd_kafka_mock_broker_set_up(mock, 1) : rd_kafka_mock_broker_set_down(mock, 1)
        // Taken down, the mock closes its listener and opens a new socket on the same port,
        // which listens again when brought up: that socket needs the option too.
        if let port { _ = ListenerNoDelay.set(onListenerAt: port) }
    }
}
