import CashierCore
public import CashierStore
public import Kafka
public import Logging
import Metrics
public import ServiceLifecycle
import Tracing

/// `cashier retry-worker`: re-attempts payments when due and looks up unknown outcomes.
///
/// Four loops. The *intake* consumes the retry topic in its own consumer group and makes sure
/// each message's payment is on the schedule in Postgres (the hand-over normally put it there
/// already) before committing the offset. The *scheduler* claims due retries and due lookups
/// from Postgres, each in due-time order and sharing the free places fairly (`SKIP LOCKED`, so
/// retry workers share the work), calls the
/// channel with the payment's idempotency key or asks it what became of the payment. The
/// *sweeper* puts back in motion `processing` payments whose holder vanished. The lease keeper
/// renews the leases of what is in flight. Nothing waits in memory, so a restart keeps every
/// schedule, and a payment not yet due never blocks one that is.
public final class RetryWorker: Service, Sendable {
    private let consumer: KafkaConsumer
    private let store: PaymentStore
    private let charger: PaymentCharger
    private let resolver: PaymentResolver
    private let relay: OutboxRelay
    private let configuration: RetryWorkerConfiguration
    private let running = InFlight(pipeline: "retries")
    private let leases: LeaseKeeper
    private let doorbell = Doorbell()
    private let progress = Progress()
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
            store: store, channels: channels, retryPolicy: configuration.retryPolicy, lookupPolicy: configuration.lookupPolicy,
            breakerMaxWait: .seconds(30), logger: logger)
        self.resolver = PaymentResolver(charger: charger)
        self.relay = relay
        self.configuration = configuration
        self.leases = LeaseKeeper(store: store, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.intake() }
            group.addTask { await self.sweep() }
            group.addTask { await self.leases.run() }
            await self.schedule()
            group.cancelAll()
        }
        await consumer.close()
        logger.info("retry worker stopped")
    }

    /// Whether the consumer has joined its group (readiness).
    public var isJoined: Bool { consumer.hasJoinedGroup }

    /// Whether work is in flight but none has finished for a minute (readiness).
    public var isStalled: Bool { running.current > 0 && progress.idle > .seconds(60) }

    private var shouldStop: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    // MARK: Intake: retry topic → schedule in Postgres

    private func intake() async {
        var failures = 0
        while !shouldStop {
            let messages: [KafkaMessage]
            do {
                messages = try await consumer.poll(maxMessages: 256, timeout: .milliseconds(100))
            } catch {
                failures += 1
                logger.warning("retry intake poll failed, will retry: \(error)")
                try? await Task.sleep(for: failurePause(failures))
                continue
            }
            guard !messages.isEmpty else { continue }
            // The consumer's position is already past this batch: it is kept and stored again
            // until that succeeds, so no later batch can commit past it.
            failures = 0
            var stored = false
            while !stored && !Task.isCancelled {
                do {
                    try await arm(messages)
                    stored = true
                } catch {
                    failures += 1
                    logger.warning("retry intake failed, will retry the same batch: \(StoreError.describe(error))")
                    try? await Task.sleep(for: failurePause(failures))
                }
            }
            guard stored else { continue }
            // Stored, so it may be committed. A failed commit is not retried here: only a poll
            // rejoins a group that a long outage above dropped this consumer from (no poll for
            // max.poll.interval.ms). The next batch's commit covers later records, and a record
            // redelivered meanwhile is armed again to the same effect.
            do {
                try await consumer.commit(Self.nextOffsets(messages))
            } catch {
                logger.warning("retry intake commit failed; the batch is stored and a redelivery of it is harmless: \(error)")
            }
            for (partition, lag) in consumer.lag() { Telemetry.consumerLag(topic: partition.topic, partition: partition.partition).record(lag) }
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
                try await store.deadLetterUnreadable(message.value, origin: origin, reason: error.reason)
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

    // MARK: Sweeper: `processing` payments whose holder is gone

    private func sweep() async {
        var failures = 0
        while !shouldStop {
            do {
                let moved = try await store.sweep()
                failures = 0
                if moved > 0 {
                    logger.warning("\(moved) payments left processing by a vanished holder were put back in motion")
                    doorbell.ring()
                }
            } catch {
                failures += 1
                logger.warning("sweeping stranded payments failed, will retry: \(StoreError.describe(error))")
            }
            try? await Task.sleep(for: failures > 0 ? failurePause(failures) : configuration.sweepEvery)
        }
    }

    // MARK: Scheduler: due payments → channel call or lookup → outcome

    private func schedule() async {
        await withDiscardingTaskGroup { calls in
            var failures = 0
            var lookupsFirst = false
            while !shouldStop {
                let free = configuration.concurrency - running.current
                var claimed: [PaymentTicket] = []
                if free > 0 {
                    do {
                        // Each kind first takes at most half the free places (whole places, the
                        // first kind alternating), then either takes what the other left: a
                        // backlog of unknown outcomes (a channel down) never starves the retries
                        // of the other channels, nor the other way round.
                        lookupsFirst.toggle()
                        let first = lookupsFirst ? store.claimDueLookups : store.claimDueRetries
                        let second = lookupsFirst ? store.claimDueRetries : store.claimDueLookups
                        claimed = try await first(max(1, free / 2))
                        claimed += try await second(free - claimed.count)
                        if claimed.count < free { claimed += try await first(free - claimed.count) }
                        failures = 0
                    } catch {
                        failures += 1
                        logger.warning("claiming due payments failed, will retry: \(StoreError.describe(error))")
                        try? await Task.sleep(for: failurePause(failures))
                        continue
                    }
                }
                for ticket in claimed {
                    if ticket.state == .retryScheduled { Telemetry.retries(attempt: ticket.attempt + 1).increment() }
                    leases.hold(ticket)
                    running.started()
                    calls.addTask {
                        // A retry's or a lookup's span, in the trace of the order event.
                        let name = ticket.state == .resolving ? "lookup" : "retry"
                        await Traces.withSpan(name, context: Traces.context(traceparent: ticket.traceparent)) { span in
                            Traces.describe(span, ticket)
                            await self.untilRecorded(ticket)
                        }
                        self.leases.release(ticket)
                        self.running.finished()
                        self.progress.advanced()
                        self.doorbell.ring()
                    }
                }
                // A full claim means more may be due already: go again at once.
                if claimed.isEmpty || claimed.count < free { await doorbell.wait(upTo: configuration.schedulePoll) }
            }
            await finishInFlight(&calls)
        }
    }

    /// One claimed payment, with transient storage failures retried: its outcome must be
    /// recorded. A failure that is not transient is logged and the lease left to lapse, so
    /// the payment is claimed again later rather than held here for ever.
    private func untilRecorded(_ ticket: PaymentTicket) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                if ticket.state == .resolving {
                    try await resolver.resolve(ticket)
                } else if try await charger.charge(ticket) == .cancelled {
                    return  // the lease runs out and the payment is claimed again
                }
                relay.wake()
                return
            } catch {
                let error = StoreError.classify(error)
                failures += 1
                logger.error("recording a retry or lookup failed: \(error)", metadata: ["order_id": "\(ticket.order.orderID)"])
                guard error.isRetryable else { return }
                try? await Task.sleep(for: failurePause(failures))
            }
        }
    }

    private func finishInFlight(_ calls: inout DiscardingTaskGroup) async {
        let abandoned = await running.drain(within: configuration.shutdownDeadline)
        if abandoned > 0 {
            logger.warning("shutdown deadline reached: abandoning \(abandoned) retries (their leases run out and they are claimed again)")
            calls.cancelAll()
        }
    }
}
