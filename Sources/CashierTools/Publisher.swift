import CashierCore
import Foundation
public import Kafka

/// Sends a run's orders at a steady rate, many in flight at once, and remembers when each
/// was sent (for latency) and which result keys to expect.
public struct Publisher: Sendable {
    public let producer: KafkaProducer
    public let topic: String
    public let runID: String
    public let channel: String
    public let faults: FaultMix

    public init(producer: KafkaProducer, topic: String, runID: String, channel: String, faults: FaultMix) {
        self.producer = producer
        self.topic = topic
        self.runID = runID
        self.channel = channel
        self.faults = faults
    }

    /// What a run sent: the result keys to wait for and when each was published.
    public struct Outcome: Sendable {
        public var expectedKeys: Set<String> = []
        public var publishedAt: [String: Int64] = [:]
        public var startMilliseconds: Int64 = 0
        public var seconds: Double = 0
    }

    public func publish(count: Int, invalid: Int, rate: Double) async throws -> Outcome {
        var generator = OrderGenerator(runID: runID, channel: channel, faults: faults)
        // Spread the invalid events evenly through the run.
        let invalidEvery = invalid > 0 ? max(1, count / invalid) : Int.max
        var outcome = Outcome()
        // Learn the topic's partitions and leaders before the clock starts. A fresh producer
        // that learns them from its first record held the first second of a run back (those
        // records reached an independent consumer ~0.5 s late), which every later order then
        // queued behind: a start-up cost of this tool, not of the pipeline it measures, and the
        // one an upstream service's long-lived producer never pays.
        _ = try await producer.partitionCount(topic: topic)
        let start = ContinuousClock.now
        outcome.startMilliseconds = Self.nowMilliseconds()
        let inFlightLimit = 2000
        try await withThrowingTaskGroup(of: (String?, DeliveryReport).self) { group in
            var inFlight = 0
            var invalidSent = 0
            for index in 0..<count {
                if rate > 0 {
                    let due = start + .milliseconds(Int64(Double(index) * 1000 / rate))
                    if due > ContinuousClock.now { try await Task.sleep(until: due) }
                }
                let bytes: [UInt8]
                let key: String?
                let sentAt = Self.nowMilliseconds()
                if invalidSent < invalid && (index % invalidEvery == invalidEvery - 1 || count - index <= invalid - invalidSent) {
                    let bad = generator.invalid(invalidSent)
                    invalidSent += 1
                    bytes = bad.bytes
                    key = bad.orderID
                } else {
                    let order = generator.valid(index, nowMilliseconds: sentAt)
                    bytes = Array(order.json().utf8)
                    key = order.orderID
                }
                if let key {
                    outcome.expectedKeys.insert(key)
                    outcome.publishedAt[key] = sentAt
                }
                let message = OutgoingMessage(topic: topic, key: key.map { Array($0.utf8) }, value: bytes)
                group.addTask { (key, try await producer.send(message)) }
                inFlight += 1
                if inFlight >= inFlightLimit {
                    try await record(try await group.next()!, into: &outcome, sentAt: sentAt)
                    inFlight -= 1
                }
            }
            while let delivered = try await group.next() {
                try await record(delivered, into: &outcome, sentAt: outcome.startMilliseconds)
            }
        }
        outcome.seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
        return outcome
    }

    /// Events without a readable order id are matched to their result by where they landed.
    private func record(_ delivered: (String?, DeliveryReport), into outcome: inout Outcome, sentAt: Int64) async throws {
        guard delivered.0 == nil else { return }
        let key = "source:\(delivered.1.partition)/\(delivered.1.offset)"
        outcome.expectedKeys.insert(key)
        outcome.publishedAt[key] = sentAt
    }

    public static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}
