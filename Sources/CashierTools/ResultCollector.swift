import CashierCore
import Foundation
public import Kafka
public import Logging

/// Reads `payments.results` from the beginning and keeps the results of one publish run:
/// those whose order id was published, or whose `source` is a published record.
public final class ResultCollector {
    /// The first result of one key.
    public struct Seen: Sendable {
        public var status: String
        public var channel: String?
        public var eventID: String
        public var arrivedMilliseconds: Int64
        public var attempts: Int
        public var reasonCode: String?

        public init(status: String, channel: String?, eventID: String, arrivedMilliseconds: Int64, attempts: Int, reasonCode: String?) {
            self.status = status
            self.channel = channel
            self.eventID = eventID
            self.arrivedMilliseconds = arrivedMilliseconds
            self.attempts = attempts
            self.reasonCode = reasonCode
        }
    }

    public private(set) var results: [String: Seen] = [:]
    public private(set) var duplicates = 0
    public private(set) var conflictingDuplicates = 0
    private let consumer: KafkaConsumer

    public init(kafka: KafkaConfiguration, topic: String, partitions: Int, logger: Logger) throws {
        let list = (0..<partitions).map { TopicPartition(topic: topic, partition: Int32($0)) }
        consumer = try KafkaConsumer(configuration: kafka, readingFromBeginning: list, logger: logger)
    }

    /// Polls until every expected key has a result or the deadline passes.
    /// Keys are order ids, or `source:P/O` for events published without a readable order id.
    public func collect(expecting expected: Set<String>, deadline: ContinuousClock.Instant, onProgress: (Int) -> Void) async throws {
        while results.count < expected.count && ContinuousClock.now < deadline {
            let messages = try await consumer.poll(maxMessages: 1000, timeout: .milliseconds(200))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for message in messages {
                guard let document = try? JSONParser.parse(message.value) else { continue }
                let key: String
                if case .string(let orderID)? = document["order_id"], expected.contains(orderID) {
                    key = orderID
                } else if case .number(let partition)? = document["source"]?["partition"], case .number(let offset)? = document["source"]?["offset"],
                    expected.contains("source:\(partition)/\(offset)")
                {
                    key = "source:\(partition)/\(offset)"
                } else {
                    continue
                }
                guard case .string(let status)? = document["status"], case .string(let eventID)? = document["event_id"] else { continue }
                let channel: String? = if case .string(let name)? = document["channel"] { name } else { nil }
                let attempts = if case .number(let text)? = document["attempts"] { Int(text) ?? 0 } else { 0 }
                let reasonCode: String? = if case .string(let code)? = document["reason"]?["code"] { code } else { nil }
                if let previous = results[key] {
                    duplicates += 1
                    if previous.eventID != eventID || previous.status != status { conflictingDuplicates += 1 }
                    continue
                }
                // The record's own timestamp says when the relay published it, however late we read it.
                let published = message.timestampMilliseconds ?? now
                results[key] = Seen(status: status, channel: channel, eventID: eventID, arrivedMilliseconds: published, attempts: attempts, reasonCode: reasonCode)
            }
            onProgress(results.count)
        }
    }

    public func close() async { await consumer.close() }
}
