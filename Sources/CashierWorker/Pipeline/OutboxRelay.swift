public import CashierStore
public import Kafka
public import Logging
import Metrics
public import ServiceLifecycle

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
                let published = try await outbox.publishBatch(limit: batchSize) { records in try await self.send(records) }
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

    /// Sends records concurrently; returns the ids the broker acknowledged.
    private func send(_ records: [OutboxRecord]) async throws -> [Int64] {
        let producer = self.producer
        let topics = self.topics
        let logger = self.logger
        return await withTaskGroup(of: Int64?.self) { group in
            for record in records {
                group.addTask {
                    var headers: [KafkaHeader] = []
                    if let traceparent = record.traceparent { headers.append(KafkaHeader(name: "traceparent", text: traceparent)) }
                    let topic = switch record.kind {
                    case .result: topics.results
                    case .retry: topics.retry
                    case .dlq: topics.dlq
                    }
                    do {
                        try await producer.send(OutgoingMessage(topic: topic, key: Array(record.key.utf8), value: Array(record.payload.utf8), headers: headers))
                        return record.id
                    } catch {
                        logger.warning("outbox record \(record.id) not published yet: \(error)")
                        return nil
                    }
                }
            }
            var sent: [Int64] = []
            for await id in group { if let id { sent.append(id) } }
            return sent
        }
    }
}
