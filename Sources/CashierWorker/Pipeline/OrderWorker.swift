import CashierCore
public import CashierStore
public import Kafka
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization
import Tracing

/// `cashier worker`: consumes `orders.created` and drives each order to a durable outcome.
///
/// Up to `concurrency` orders run at once, never two of the same order, and no more per
/// channel than its limit (the others wait in `ChannelGates`); per partition only the
/// contiguous prefix of finished offsets is committed. A storage error that is not transient
/// dead-letters its record, so poison never holds a partition. On graceful shutdown it stops
/// polling, lets in-flight orders finish (up to the deadline), commits, and leaves the group.
public final class OrderWorker: Service, Sendable {
    private let consumer: KafkaConsumer
    private let store: PaymentStore
    private let processor: OrderProcessor
    private let configuration: WorkerConfiguration
    private let tracker: Locked<OffsetTracker>
    private let running = InFlight(pipeline: "orders")
    private let serializer = KeyedSerializer<WorkItem>()
    private let slots: Slots
    /// Places for records waiting on a saturated channel; when none is free, polling pauses.
    private let waitingRoom: Slots
    private let gates: ChannelGates
    private let leases: LeaseKeeper
    private let progress = Progress()
    private let logger: Logger

    /// Builds the consumer too, because its rebalance callback needs the tracker.
    public init(
        kafka: KafkaConfiguration, store: PaymentStore, channels: ChannelRegistry, relay: OutboxRelay,
        configuration: WorkerConfiguration, logger: Logger
    ) throws(KafkaError) {
        let tracker = Locked(OffsetTracker())
        self.tracker = tracker
        self.consumer = try KafkaConsumer(
            configuration: kafka, groupID: configuration.groupID, topics: [configuration.topics.orders], logger: logger
        ) { event in
            // On the poll thread, inside the rebalance: hand back what may be committed.
            tracker.withLock { tracker in
                switch event {
                case .assigned(let partitions, let epoch):
                    tracker.assign(partitions, epoch: epoch)
                    return []
                case .revoked(let partitions, _):
                    return tracker.revoke(partitions)
                case .lost(let partitions, _):
                    _ = tracker.revoke(partitions)
                    return []
                }
            }
        }
        let leases = LeaseKeeper(store: store, logger: logger)
        let charger = PaymentCharger(
            store: store, channels: channels, retryPolicy: configuration.retryPolicy, lookupPolicy: configuration.lookupPolicy,
            breakerMaxWait: configuration.breakerMaxWait, logger: logger)
        self.store = store
        self.leases = leases
        self.processor = OrderProcessor(store: store, charger: charger, leases: leases, relay: relay, logger: logger)
        self.configuration = configuration
        self.slots = Slots(configuration.concurrency)
        self.waitingRoom = Slots(configuration.maxWaiting ?? configuration.concurrency)
        self.gates = ChannelGates(limits: channels.limits)
        self.logger = logger
    }

    public func run() async throws {
        let stopped = Flag()
        await withTaskGroup(of: Void.self) { background in
            background.addTask { await self.commitPeriodically(until: stopped) }
            background.addTask { await self.leases.run() }
            // Discarding: a finished order's task is freed at once (a plain task group would keep
            // every finished child until `next()`, growing with each order processed).
            await withDiscardingTaskGroup { workers in
                await self.pollAndDispatch(into: &workers)
                self.gates.close()
                await self.finishInFlight(&workers)
            }
            stopped.set()
            await commit()
            background.cancelAll()
        }
        await consumer.close()
        logger.info("order worker stopped")
    }

    private var shouldStop: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    private func pollAndDispatch(into workers: inout DiscardingTaskGroup) async {
        var failures = 0
        while !shouldStop {
            let messages: [KafkaMessage]
            do {
                messages = try await consumer.poll(maxMessages: 256, timeout: .milliseconds(100))
                failures = 0
            } catch {
                failures += 1
                logger.warning("poll failed: \(error)")
                try? await Task.sleep(for: failurePause(failures))
                continue
            }
            if let topic = messages.first?.topic { Telemetry.ordersConsumed(topic: topic).increment(by: Int64(messages.count)) }
            // Decode outside the lock: finishing orders take the same lock to record progress.
            let decoded = messages.map { message in
                Result { () throws(OrderRejection) in try OrderCreated.decode(message.value) }
            }
            // Note every record before dispatching any, so the tracker sees the batch in order.
            let items: [WorkItem] = tracker.withLock { tracker in
                zip(messages, decoded).compactMap { message, decoded in
                    let partition = TopicPartition(topic: message.topic, partition: message.partition)
                    guard let generation = tracker.received(partition, offset: message.offset, epoch: message.rebalanceEpoch) else { return nil }
                    return WorkItem(message: message, decoded: decoded, generation: generation)
                }
            }
            for item in items {
                await slots.acquire()
                // Records not dispatched stay uncommitted and are redone by the next owner.
                if shouldStop {
                    slots.release()
                    break
                }
                let key = item.serializationKey
                guard serializer.submit(item, key: key) else {
                    // Queued behind its order's earlier record: it runs in that record's task.
                    slots.release()
                    await waitForRoom()
                    continue
                }
                if let channel = item.channel, !gates.enter(item, channel: channel) {
                    // Its channel is saturated: the record waits for its turn without a slot.
                    slots.release()
                    await waitForRoom()
                    continue
                }
                start(item, key: key, in: &workers)
            }
        }
    }

    /// Takes a place in the waiting room for a polled record that cannot start yet; while the
    /// room is full the dispatcher stays here, so polling pauses (backpressure).
    private func waitForRoom() async {
        while !waitingRoom.tryAcquire() && !shouldStop { try? await Task.sleep(for: .milliseconds(2)) }
    }

    /// Runs a record's task: the record, the records of its order queued behind it, then — when
    /// its channel has records waiting for a turn — the next of those, on a new slot.
    private func start(_ item: WorkItem, key: String, in workers: inout DiscardingTaskGroup) {
        running.started()
        workers.addTask {
            var next: (item: WorkItem, key: String)? = (item, key)
            while let (current, currentKey) = next {
                await self.runSerially(first: current, key: currentKey)
                self.slots.release()
                next = nil
                if let channel = current.channel, let waiting = self.gates.leave(channel) {
                    self.waitingRoom.release()
                    await self.slots.acquire()
                    next = (waiting, waiting.serializationKey)
                }
            }
            self.running.finished()
        }
    }

    /// Processes `first`, then every item queued behind it for the same key.
    private func runSerially(first: WorkItem, key: String) async {
        var item: WorkItem? = first
        while let current = item {
            // The order's span, a child of the order event's own (its `traceparent` header).
            let durable = await Traces.withSpan("order", context: Traces.context(from: current.message.headers), ofKind: .consumer) { span in
                Traces.describe(span, current)
                return await processUntilDurable(current)
            }
            if durable {
                let partition = TopicPartition(topic: current.message.topic, partition: current.message.partition)
                tracker.withLock { $0.finished(partition, offset: current.message.offset, generation: current.generation) }
                progress.advanced()
            }
            item = serializer.next(after: key)
            if item != nil { waitingRoom.release() }
        }
    }

    /// Retries transient storage failures (Postgres restarting, a network blip) with backoff:
    /// the record is not skipped and not committed until its outcome is durable. Any other
    /// storage error is the record's own: it is dead-lettered with the error and the line moves.
    private func processUntilDurable(_ item: WorkItem) async -> Bool {
        var failures = 0
        var poison: StoreError? = nil
        // One lease for every try: a try whose accept committed after its answer was lost is
        // found to be this task's own by the next.
        let lease = store.newLease()
        while !Task.isCancelled {
            do {
                if let poison {
                    try await store.deadLetterPoison(item.message.value, origin: item.origin, error: poison, rejection: Self.rejection(item, poison))
                    return true
                }
                return try await processor.process(item, lease: lease)
            } catch {
                let error = StoreError.classify(error)
                failures += 1
                let metadata: Logger.Metadata = ["offset": "\(item.message.partition)/\(item.message.offset)", "error_code": "\(error.code)"]
                if error.isRetryable || poison != nil {
                    logger.error("storing the outcome failed, will retry: \(error)", metadata: metadata)
                    try? await Task.sleep(for: failurePause(failures))
                } else {
                    logger.error("storing the outcome failed for good; dead-lettering the record: \(error)", metadata: metadata)
                    poison = error
                }
            }
        }
        return false
    }

    /// The `rejected` result of a valid order whose record cannot be stored (the store publishes
    /// it only if the order was never accepted).
    static func rejection(_ item: WorkItem, _ error: StoreError) -> StorageRejection? {
        guard case .success(let order) = item.decoded else { return nil }
        let reason = Reason(code: "storage_error", message: "this order could not be stored (\(error)); it was not charged")
        let result = ResultEvent(
            eventID: PaymentIdentity.rejectionEventID(item.origin), orderID: order.orderID, paymentID: nil, status: .rejected, amount: nil,
            currency: nil, channel: nil, channelReference: nil, attempts: 0, reason: reason, occurredAt: PaymentCharger.now(), source: nil)
        return StorageRejection(order: order, result: result)
    }

    /// Waits for in-flight records; at the deadline cancels them (cancelled records are not
    /// committed, so the next owner redoes them with the same idempotency keys).
    private func finishInFlight(_ workers: inout DiscardingTaskGroup) async {
        logger.info("stopping: waiting for \(running.current) in-flight orders")
        let abandoned = await running.drain(within: configuration.shutdownDeadline)
        if abandoned > 0 {
            logger.warning("shutdown deadline reached: abandoning \(abandoned) in-flight orders (left uncommitted)")
            workers.cancelAll()
        }
    }

    private func commitPeriodically(until stopped: Flag) async {
        var ticks = 0
        while !stopped.isSet {
            try? await Task.sleep(for: .milliseconds(200))
            await commit()
            ticks += 1
            if ticks % 25 == 0 { reportLag() }
        }
    }

    private func reportLag() {
        for (partition, lag) in consumer.lag() { Telemetry.consumerLag(topic: partition.topic, partition: partition.partition).record(lag) }
    }

    /// Whether the consumer has joined its group (readiness).
    public var isJoined: Bool { consumer.hasJoinedGroup }

    /// Whether orders are in flight but none has finished for `stallAfter` (readiness): the
    /// line is stuck even if Postgres and Kafka answer.
    public var isStalled: Bool { running.current > 0 && progress.idle > configuration.stallAfter }

    private func commit() async {
        let offsets = tracker.withLock { $0.committable() }
        guard !offsets.isEmpty else { return }
        do {
            try await consumer.commit(offsets)
            tracker.withLock { $0.committed(offsets) }
        } catch {
            logger.warning("offset commit failed; will retry: \(error)")
        }
    }
}

/// When the pipeline last moved.
final class Progress: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func advanced() { last.withLock { $0 = ContinuousClock.now } }
    var idle: Duration { ContinuousClock.now - last.withLock { $0 } }
}

/// A counting semaphore for the worker's concurrency limit.
final class Slots: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(available: count)) }

    func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Takes a place if one is free, without waiting.
    func tryAcquire() -> Bool {
        state.withLock { state in
            guard state.available > 0 else { return false }
            state.available -= 1
            return true
        }
    }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.available += 1
            return nil
        }
        waiter?.resume()
    }
}

/// A value behind a lock that closures can capture (a `Mutex` itself cannot be captured).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}

/// A one-way switch shared between tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
