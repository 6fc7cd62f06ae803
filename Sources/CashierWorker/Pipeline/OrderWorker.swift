import CashierCore
public import CashierStore
public import Kafka
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// `cashier worker`: consumes `orders.created` and drives each order to a durable outcome.
///
/// Up to `concurrency` orders run at once, never two of the same order; per partition only
/// the contiguous prefix of finished offsets is committed. On graceful shutdown it stops
/// polling, lets in-flight orders finish (up to the deadline), commits, and leaves the group.
public final class OrderWorker: Service, Sendable {
    private let consumer: KafkaConsumer
    private let processor: OrderProcessor
    private let configuration: WorkerConfiguration
    private let tracker: Locked<OffsetTracker>
    private let running = InFlight(pipeline: "orders")
    private let serializer = KeyedSerializer<WorkItem>()
    private let slots: Slots
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
                case .assigned(let partitions):
                    tracker.assign(partitions)
                    return []
                case .revoked(let partitions):
                    return tracker.revoke(partitions)
                case .lost(let partitions):
                    _ = tracker.revoke(partitions)
                    return []
                }
            }
        }
        self.processor = OrderProcessor(store: store, channels: channels, configuration: configuration, relay: relay, logger: logger)
        self.configuration = configuration
        self.slots = Slots(configuration.concurrency)
        self.logger = logger
    }

    public func run() async throws {
        let stopped = Flag()
        await withTaskGroup(of: Void.self) { background in
            background.addTask { await self.commitPeriodically(until: stopped) }
            // Discarding: a finished order's task is freed at once (a plain task group would keep
            // every finished child until `next()`, growing with each order processed).
            await withDiscardingTaskGroup { workers in
                await self.pollAndDispatch(into: &workers)
                await self.finishInFlight(&workers)
            }
            stopped.set()
        }
        await commit()
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
            if let oldest = messages.compactMap(\.timestampMilliseconds).min() {
                logger.trace("polled \(messages.count) records; oldest was produced \(PaymentCharger.nowMilliseconds() - oldest) ms ago")
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
                    guard let generation = tracker.received(partition, offset: message.offset) else { return nil }
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
                if serializer.submit(item, key: key) {
                    running.started()
                    workers.addTask {
                        await self.runSerially(first: item, key: key)
                        self.running.finished()
                    }
                }
            }
        }
    }

    /// Processes `first`, then every item queued behind it for the same key.
    private func runSerially(first: WorkItem, key: String) async {
        var item: WorkItem? = first
        while let current = item {
            if await processUntilDurable(current) {
                let partition = TopicPartition(topic: current.message.topic, partition: current.message.partition)
                tracker.withLock { $0.finished(partition, offset: current.message.offset, generation: current.generation) }
            }
            slots.release()
            item = serializer.next(after: key)
        }
    }

    /// Retries storage failures (Postgres restarting, a network blip) with backoff: the record
    /// is not skipped and not committed until its outcome is durable.
    private func processUntilDurable(_ item: WorkItem) async -> Bool {
        var failures = 0
        while !Task.isCancelled {
            do {
                return try await processor.process(item)
            } catch {
                failures += 1
                logger.error(
                    "processing failed, will retry: \(error)",
                    metadata: ["offset": "\(item.message.partition)/\(item.message.offset)"])
                try? await Task.sleep(for: failurePause(failures))
            }
        }
        return false
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
