@testable import Kafka
import Testing

/// The producer and consumer against librdkafka's mock cluster (`DevBroker`, as `cashier
/// kafka-dev` runs it): real protocol over loopback TCP, nothing outside this process.
@Suite(.serialized) struct MockClusterTests {
    static let consumerOptions = [("fetch.wait.max.ms", "10"), ("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500")]

    func record(_ topic: String, _ text: String) -> OutgoingMessage {
        OutgoingMessage(topic: topic, key: Array("key".utf8), value: Array(text.utf8), headers: [KafkaHeader(name: "h", text: text)])
    }

    /// Polls until `count` records came or the time is up.
    func consume(_ consumer: KafkaConsumer, count: Int, within limit: Duration = .seconds(30)) async throws -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + limit
        while messages.count < count, ContinuousClock.now < deadline {
            messages += try await consumer.poll(maxMessages: count - messages.count, timeout: .milliseconds(200))
        }
        return messages
    }

    @Test func producedRecordsAreConsumedAndACommittedGroupResumesAfterThem() async throws {
        let log = LogCapture()
        let broker = try DevBroker(partitions: 1, topics: ["t"], logger: log.logger)
        let configuration = KafkaConfiguration(bootstrapServers: broker.bootstrapServers, options: Self.consumerOptions)
        let producer = try KafkaProducer(configuration: configuration, logger: log.logger)

        let first = try await producer.send(record("t", "one"))
        #expect(first == DeliveryReport(partition: 0, offset: 0))
        let ordered = await producer.sendInOrder([record("t", "two"), record("t", "three")])
        #expect(try ordered.map { try $0.get().offset } == [1, 2])

        let consumer = try KafkaConsumer(configuration: configuration, groupID: "g", topics: ["t"], logger: log.logger)
        let messages = try await consume(consumer, count: 3)
        #expect(messages.map { String(decoding: $0.value, as: UTF8.self) } == ["one", "two", "three"])
        #expect(messages.map(\.offset) == [0, 1, 2])
        #expect(messages.allSatisfy { $0.key == Array("key".utf8) && $0.topic == "t" })
        #expect(messages.map { $0.header("h") } == ["one", "two", "three"])
        #expect(consumer.hasJoinedGroup)
        // Only the first two are done: the next owner of the group starts at the third.
        try await consumer.commit([(TopicPartition(topic: "t", partition: 0), 2)])
        await consumer.close()

        let next = try KafkaConsumer(configuration: configuration, groupID: "g", topics: ["t"], logger: log.logger)
        let resumed = try await consume(next, count: 1)
        #expect(resumed.map(\.offset) == [2])
        await next.close()
        #expect(log.messages.filter { $0.contains("CONFWARN") }.isEmpty, "\(log.messages.filter { $0.contains("CONFWARN") })")
    }

    @Test func anObserverReadsPartitionsFromTheBeginningWithoutAGroup() async throws {
        let log = LogCapture()
        let broker = try DevBroker(partitions: 2, topics: ["t"], logger: log.logger)
        let configuration = KafkaConfiguration(bootstrapServers: broker.bootstrapServers, options: Self.consumerOptions)
        let producer = try KafkaProducer(configuration: configuration, logger: log.logger)
        for index in 0..<4 { try await producer.send(OutgoingMessage(topic: "t", key: Array("k\(index)".utf8), value: [UInt8(index)])) }
        let observer = try KafkaConsumer(
            configuration: configuration, readingFromBeginning: [TopicPartition(topic: "t", partition: 0), TopicPartition(topic: "t", partition: 1)],
            logger: log.logger)
        let messages = try await consume(observer, count: 4)
        #expect(messages.map(\.value).sorted { $0[0] < $1[0] } == [[0], [1], [2], [3]])
        #expect(try await producer.partitionCount(topic: "t") == 2)
    }

    @Test func aRecordTheBrokerNeverAcknowledgesFailsItsDelivery() async throws {
        let log = LogCapture()
        let broker = try DevBroker(partitions: 1, topics: ["t"], logger: log.logger)
        broker.setBroker(up: false)
        let configuration = KafkaConfiguration(bootstrapServers: broker.bootstrapServers, options: [("message.timeout.ms", "300")])
        let producer = try KafkaProducer(configuration: configuration, logger: log.logger)
        let error = await #expect(throws: KafkaError.self) { try await producer.send(record("t", "lost")) }
        #expect(error?.code == .delivery)
        #expect(error?.isRetryable == true, "a timed-out delivery may succeed when tried again")
        let results = await producer.sendInOrder([record("t", "a"), record("t", "b")])
        #expect(results.allSatisfy { if case .failure(let error) = $0 { error.code == .delivery } else { false } })
    }

    @Test func flushWaitsItsWholeSubSecondTimeout() async throws {
        let log = LogCapture()
        let broker = try DevBroker(partitions: 1, topics: ["t"], logger: log.logger)
        broker.setBroker(up: false)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, options: [("message.timeout.ms", "5000")]), logger: log.logger)
        let pending = Task { try? await producer.send(record("t", "waiting")) }
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        await #expect(throws: KafkaError.self) { try await producer.flush(timeout: .milliseconds(500)) }
        let waited = ContinuousClock.now - start
        // Before, .milliseconds(500) became rd_kafka_flush(…, 0): no wait at all.
        #expect(waited >= .milliseconds(450), "flush returned after \(waited)")
        #expect(waited < .seconds(3), "flush returned after \(waited)")
        pending.cancel()
        _ = await pending.value
    }

    @Test func pollWaitsItsSubSecondTimeout() async throws {
        let log = LogCapture()
        let broker = try DevBroker(partitions: 1, topics: ["t"], logger: log.logger)
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, options: Self.consumerOptions),
            readingFromBeginning: [TopicPartition(topic: "t", partition: 0)], logger: log.logger)
        let start = ContinuousClock.now
        let messages = try await consumer.poll(maxMessages: 10, timeout: .milliseconds(400))
        #expect(messages.isEmpty)
        #expect(ContinuousClock.now - start >= .milliseconds(350))
    }

    @Test func aCancelledSendStopsWaitingAtOnce() async throws {
        let log = LogCapture()
        let broker = try DevBroker(partitions: 1, topics: ["t"], logger: log.logger)
        broker.setBroker(up: false)
        // The broker would not answer for the whole message timeout.
        var producer: KafkaProducer? = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, options: [("message.timeout.ms", "60000")]), logger: log.logger)
        let sender = try #require(producer)
        let sending = Task { try await sender.send(record("t", "abandoned")) }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        sending.cancel()
        let result = await sending.result
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(failureCode(result) == .cancelled, "\(result)")
        // Releasing the producer purges the record and serves its report (releasing the
        // promise librdkafka held) instead of hanging or leaking.
        let released = ContinuousClock.now
        producer = nil
        #expect(ContinuousClock.now - released < .seconds(5))
    }
}
