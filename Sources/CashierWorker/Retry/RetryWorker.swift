import CashierCore
public import CashierStore
public import Kafka
public import Logging
import Metrics
public import ServiceLifecycle

/// `cashier retry-worker`: takes payments off the retry topic and re-attempts them when due.
///
/// Two loops. The *intake* consumes the retry topic in its own consumer group and makes sure
/// each message's payment is on the schedule in Postgres (the hand-over normally put it there
/// already) before committing the offset. The *scheduler* claims due payments from Postgres in
/// due-time order (`SKIP LOCKED`, so retry workers share the work) and calls the channel with
/// the payment's idempotency key. Nothing waits in memory, so a restart keeps every schedule,
/// and a payment that is not yet due never blocks one that is.
public final class RetryWorker: Service, Sendable {
    private let consumer: KafkaConsumer
    private let store: PaymentStore
    private let charger: PaymentCharger
    private let relay: OutboxRelay
    private let configuration: RetryWorkerConfiguration
    private let slots: Slots
    private let running = InFlight(pipeline: "retries")
    private let doorbell = Doorbell()
    private let logger: Logger

    public init(
        kafka: KafkaConfiguration, store: PaymentStore, channels: ChannelRegistry, relay: OutboxRelay,
        configuration: RetryWorkerConfiguration, logger: Logger
    ) throws(KafkaError) {
        // Offsets are committed right after each batch is durable, so a rebalance has nothing
        // to hand back: an uncommitted batch is simply armed again (arming is idempotent).
        self.consumer = try KafkaConsumer(
            configuration: kafka, groupID: configuration.groupID, topics: [configuration.topics.retry], logger: logger
        ) { _ in [] }
        self.store = store
        self.charger = PaymentCharger(
            store: store, channels: channels, retryPolicy: configuration.retryPolicy,
            unknownOutcomeRepeats: configuration.unknownOutcomeRepeats, logger: logger)
        self.relay = relay
        self.configuration = configuration
        self.slots = Slots(configuration.concurrency)
        self.logger = logger
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.intake() }
            await self.schedule()
        }
        await consumer.close()
        logger.info("retry worker stopped")
    }

    /// Whether the consumer has joined its group (readiness).
    public var isJoined: Bool { consumer.hasJoinedGroup }

    private var shouldStop: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    // MARK: Intake: retry topic → schedule in Postgres

    private func intake() async {
        var failures = 0
        while !shouldStop {
            do {
                let messages = try await consumer.poll(maxMessages: 256, timeout: .milliseconds(100))
                guard !messages.isEmpty else { continue }
                try await arm(messages)
                try await consumer.commit(Self.nextOffsets(messages))
                for (partition, lag) in consumer.lag() { Telemetry.consumerLag(topic: partition.topic, partition: partition.partition).record(lag) }
                failures = 0
            } catch {
                // Nothing was committed past what is durable: the batch comes back and is armed again.
                failures += 1
                logger.warning("retry intake failed, will retry: \(error)")
                try? await Task.sleep(for: failurePause(failures))
            }
        }
    }

    private func arm(_ messages: [KafkaMessage]) async throws {
        var requests: [RetryRequest] = []
        for message in messages {
            let request: RetryRequest
            do {
                request = try RetryRequest.decode(message.value)
            } catch {
                let origin = EventOrigin(topic: message.topic, partition: message.partition, offset: message.offset, value: message.value)
                try await store.deadLetterUnreadable(message.value, origin: origin, reason: Reason(code: "invalid_retry_message", message: error.description))
                logger.error("unreadable retry message dead-lettered: \(error)", metadata: ["offset": "\(message.partition)/\(message.offset)"])
                continue
            }
            requests.append(request)
        }
        let armed = try await store.arm(requests)
        if !armed.isEmpty { logger.debug("\(armed.count) retries armed from the retry topic") }
        if armed.contains(where: { $0 <= PaymentCharger.nowMilliseconds() }) { doorbell.ring() }
    }

    static func nextOffsets(_ messages: [KafkaMessage]) -> [(TopicPartition, Int64)] {
        var next: [TopicPartition: Int64] = [:]
        for message in messages {
            let partition = TopicPartition(topic: message.topic, partition: message.partition)
            next[partition] = max(next[partition] ?? 0, message.offset + 1)
        }
        return next.map { ($0.key, $0.value) }
    }

    // MARK: Scheduler: due payments → channel call → outcome

    private func schedule() async {
        await withDiscardingTaskGroup { calls in
            var failures = 0
            while !shouldStop {
                let free = configuration.concurrency - running.current
                var claimed: [PaymentTicket] = []
                if free > 0 {
                    do {
                        claimed = try await store.claimDueRetries(limit: free, lease: configuration.lease)
                        failures = 0
                    } catch {
                        failures += 1
                        logger.warning("claiming due retries failed, will retry: \(error)")
                        try? await Task.sleep(for: failurePause(failures))
                        continue
                    }
                }
                for ticket in claimed {
                    Telemetry.retries(attempt: ticket.attempt).increment()
                    await slots.acquire()
                    running.started()
                    calls.addTask {
                        await self.retryUntilRecorded(ticket)
                        self.running.finished()
                        self.slots.release()
                        self.doorbell.ring()
                    }
                }
                // A full claim means more may be due already: go again at once.
                if claimed.isEmpty || claimed.count < free { await doorbell.wait(upTo: configuration.schedulePoll) }
            }
            await finishInFlight(&calls)
        }
    }

    /// One claimed retry, with storage failures retried: its outcome must be recorded.
    private func retryUntilRecorded(_ ticket: PaymentTicket) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await retry(ticket)
                return
            } catch {
                failures += 1
                logger.error("recording a retry failed, will retry: \(error)", metadata: ["order_id": "\(ticket.order.orderID)"])
                try? await Task.sleep(for: failurePause(failures))
            }
        }
    }

    private func retry(_ ticket: PaymentTicket) async throws {
        // Cancelled (shutdown deadline): the lease runs out and the payment is claimed again.
        guard let (last, outcome) = try await charger.call(ticket) else { return }
        switch outcome {
        case .succeeded, .declined:
            try await charger.settle(last, outcome, traceparent: last.traceparent)
        case .retryable, .unknown:
            if configuration.retryPolicy.allowsAnotherAttempt(after: last.attempt) {
                let (due, delay) = charger.nextDueMilliseconds(after: last.attempt)
                try await store.reschedule(last, outcome: outcome, dueAtMilliseconds: due)
                logger.info(
                    "retry failed, rescheduled",
                    metadata: ["order_id": "\(last.order.orderID)", "attempt": "\(last.attempt)", "reason": "\(outcome.reason?.code ?? "-")",
                               "delay_ms": "\(delay)"])
            } else {
                try await charger.exhaust(last, outcome, traceparent: last.traceparent)
            }
        }
        relay.wake()
    }

    private func finishInFlight(_ calls: inout DiscardingTaskGroup) async {
        let abandoned = await running.drain(within: configuration.shutdownDeadline)
        if abandoned > 0 {
            logger.warning("shutdown deadline reached: abandoning \(abandoned) retries (their leases run out and they are claimed again)")
            calls.cancelAll()
        }
    }
}
