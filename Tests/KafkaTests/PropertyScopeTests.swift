@testable import Kafka
import Testing

/// One option list configures every client; each client takes only the properties of its kind.
@Suite struct PropertyScopeTests {
    @Test func librdkafkaSaysWhichClientAPropertyIsFor() {
        #expect(PropertyScope.of("fetch.wait.max.ms") == .consumer)
        #expect(PropertyScope.of("session.timeout.ms") == .consumer)
        #expect(PropertyScope.of("auto.offset.reset") == .consumer)
        #expect(PropertyScope.of("linger.ms") == .producer)
        #expect(PropertyScope.of("acks") == .producer)
        #expect(PropertyScope.of("message.timeout.ms") == .producer)
        #expect(PropertyScope.of("security.protocol") == .both)
        #expect(PropertyScope.of(" bootstrap.servers ") == .both)
        #expect(PropertyScope.of("no.such.property") == nil)
    }

    @Test func parsesTheRowsOfThePropertyTable() {
        let table = PropertyScope.parse("""
            Property                                 | C/P | Range           |       Default | Importance | Description
            -----------------------------------------|-----|-----------------|--------------:|------------| ----------
            fetch.wait.max.ms                        |  C  | 0 .. 300000     |           500 | low        | Maximum time | with a bar
            linger.ms                                |  P  | 0 .. 900000     |             5 | high       | Alias
            client.id                                |  *  |                 |       rdkafka | low        | Client identifier.
            """)
        #expect(table == ["fetch.wait.max.ms": .consumer, "linger.ms": .producer, "client.id": .both])
    }

    @Test func aProducerIsNotGivenConsumerPropertiesNorAConsumerProducerOnes() throws {
        let log = LogCapture()
        let options = [("fetch.wait.max.ms", "10"), ("session.timeout.ms", "10000"), ("linger.ms", "1"), ("queue.buffering.max.ms", "1")]
        let configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1", options: options)
        _ = try KafkaProducer(configuration: configuration, logger: log.logger)
        _ = try KafkaConsumer(configuration: configuration, groupID: "g", topics: ["t"], logger: log.logger)
        _ = try KafkaConsumer(configuration: configuration, readingFromBeginning: [TopicPartition(topic: "t", partition: 0)], logger: log.logger)
        _ = try DevBroker(partitions: 1, topics: ["t"], logger: log.logger)
        let warnings = log.messages.filter { $0.contains("CONFWARN") }
        #expect(warnings.isEmpty, "\(warnings)")
    }

    @Test func anUnknownPropertyIsStillRefusedByLibrdkafka() {
        let configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1", options: [("no.such.property", "1")])
        #expect(throws: KafkaError.self) { _ = try KafkaProducer(configuration: configuration, logger: LogCapture().logger) }
    }
}
