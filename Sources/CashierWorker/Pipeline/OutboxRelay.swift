public import CashierStore
public import Kafka
public import Logging
import Metrics
public import ServiceLifecycle
import Tracing

/// Publishes outbox records (results, retries, dead letters) to Kafka, at least once and with
/// their stored bytes, so a republished event is identical to the first.
///
/// Woken right after an outcome is recorded; also polls, to pick up records left by a process
/// that died between recording and publishing.
public final class OutboxRelay: Service, Sendable {
    private let outbox: OutboxStore
    private let producer: KafkaProducer
    private let topics: Topics
    private let logger: Logger
    private let doorbell = Doorbell()
    private let batchSize: Int
    private let idlePoll: Duration

    public init(outbox: OutboxStore, producer: KafkaProducer, topics: Topics, logger: Logger, batchSize: Int = 500, idlePoll: Duration = .milliseconds(500)) {
        self.outbox = outbox
        self.producer = producer
        self.topics = topics
        self.logger = logger
        self.batchSize = batchSize
        self.idlePoll = idlePoll
    }

    /// When a batch last went through (or the outbox was found empty).
    private let progress = Progress()

    /// Whether the relay has failed to publish for half a minute (readiness): results are
    /// being recorded but not announced.
    public var isStalled: Bool { progress.idle > .seconds(30) }

    /// Asks the relay to look at the outbox now.
    public func wake() { doorbell.ring() }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastBacklogReport = ContinuousClock.now
            while !Task.isCancelled {
                await self.drain()
                if ContinuousClock.now - lastBacklogReport > .seconds(5) {
                    lastBacklogReport = ContinuousClock.now
                    if let backlog = try? await self.outbox.backlog() { Telemetry.outboxBacklog.record(backlog) }
                }
                await self.doorbell.wait(upTo: self.idlePoll)
            }
        }
        // Shutting down: the worker has stopped recording; publish what it recorded last.
        await drain()
        do {
            try await producer.flush(timeout: .seconds(5))
        } catch {
            logger.warning("producer flush at shutdown: \(error); unpublished records stay in the outbox")
        }
    }

    /// Publishes until the outbox is empty or publishing fails.
    func drain() async {
        var failures = 0
        while true {
            do {
                let published = try await outbox.publishBatch(limit: batchSize) { records in await self.send(records) }
                progress.advanced()
                if published < batchSize { return }
                failures = 0
            } catch {
                failures += 1
                logger.warning("outbox relay: \(error)")
                if failures >= 3 || Task.isCancelled { return }
                try? await Task.sleep(for: .milliseconds(200 * failures))
            }
        }
    }

    /// Sends a batch in outbox order; returns the ids that may be marked published.
    ///
    /// The records come in id order, which per order is the order they were written (a `failed`
    /// before a later `succeeded`). They are handed to the producer one after another and only
    /// then awaited, so the idempotent producer keeps that order per partition.
    ///
    /// A record whose delivery failed stays unpublished, and so does every later record of the
    /// same key in the batch, even one that was delivered: the failed one is sent again by a
    /// later batch, and the later ones must be sent again after it, so that the last event a
    /// consumer sees for an order is still the last one written. (A consumer may then see a
    /// later event twice; it carries the same `event_id` and bytes both times.)
    private func send(_ records: [OutboxRecord]) async -> [Int64] {
        let messages = records.map { record in
            var headers: [KafkaHeader] = []
            // The order event's own header, byte for byte: other services read it.
            if let traceparent = record.traceparent { headers.append(KafkaHeader(name: "traceparent", text: traceparent)) }
            return OutgoingMessage(topic: topic(of: record.kind), key: Array(record.key.utf8), value: Array(record.payload.utf8), headers: headers)
        }
        let spans = records.map { record in publishSpan(record) }
        let results = await producer.sendInOrder(messages)
        var outcomes: [(id: Int64, key: String, delivered: Bool)] = []
        for (index, (record, result)) in zip(records, results).enumerated() {
            if case .failure(let error) = result { logger.warning("outbox record \(record.id) not published yet: \(error)") }
            let delivered = (try? result.get()) != nil
            outcomes.append((record.id, record.key, delivered: delivered))
            spans[index].attributes[Traces.Attribute.outcome] = delivered ? "delivered" : "not_delivered"
            spans[index].end()
        }
        return Self.publishable(outcomes)
    }

    /// The span of one record's publication, in the trace of the order event it is about.
    private func publishSpan(_ record: OutboxRecord) -> any Span {
        let span = Traces.startSpan("publish", context: Traces.context(traceparent: record.traceparent), ofKind: .producer)
        if span.isRecording {
            span.attributes[Traces.Attribute.orderID] = record.key
            span.attributes["messaging.destination.name"] = topic(of: record.kind)
        }
        return span
    }

    private func topic(of kind: OutboxRecord.Kind) -> String {
        switch kind {
        case .result: topics.results
        case .retry: topics.retry
        case .dlq: topics.dlq
        }
    }

    /// Of a batch's outcomes in outbox order, the ids delivered with no failed delivery of the
    /// same key before them.
    static func publishable(_ outcomes: [(id: Int64, key: String, delivered: Bool)]) -> [Int64] {
        var blockedKeys = Set<String>()
        var published: [Int64] = []
        for outcome in outcomes {
            if !outcome.delivered {
                blockedKeys.insert(outcome.key)
            } else if !blockedKeys.contains(outcome.key) {
                published.append(outcome.id)
            }
        }
        return published
    }
}
