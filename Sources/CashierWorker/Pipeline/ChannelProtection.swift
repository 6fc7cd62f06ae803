public import CashierChannels
public import CashierCore
public import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Per-channel protection around an adapter: a concurrency limit and a circuit breaker, so one
/// failing or slow channel cannot take every worker slot from the others.
///
/// A refusal is never an answer (DESIGN.md invariant 7): `admit` *waits* for a free place and
/// for the breaker to let a call through, so pressure slows the caller instead of failing the
/// order or costing it an attempt. Only a call that `admit` let through is sent (`call`).
public struct ChannelProtection: Sendable {
    public struct Settings: Sendable {
        /// Calls in flight to one channel at most (nil: as many as the worker's concurrency).
        public var concurrency: Int? = nil
        /// The breaker opens when, over the last `window`, at least this many calls were made
        /// and at least `failureRatio` of them failed (retryable or unknown). A volume floor and
        /// a ratio, not a run of failures: a handful of bad cards must not stop a channel.
        public var minimumCalls = 20
        public var failureRatio = 0.5
        public var window: Duration = .seconds(10)
        /// How long an open breaker refuses calls before one probe is let through.
        public var openFor: Duration = .seconds(30)
        /// Per-channel overrides of `minimumCalls` (channels differ in volume).
        public var minimumCallsByChannel: [Channel: Int] = [:]
        /// Off in the retry worker: it only ever calls for payments that already failed, so its
        /// failure ratio says nothing about the channel's health, and its backoff already spaces
        /// its calls. (Found by the retry benchmark: a breaker there kept refusing healthy retries.)
        public var breakerEnabled = true

        public init() {}
    }

    /// Why `admit` let no call through.
    public enum Refusal: Sendable, Equatable {
        /// The breaker stayed open for the whole wait.
        case circuitOpen
        /// This process has no credentials for the channel: nothing can be sent.
        case notConfigured
        /// The caller was cancelled (shutdown).
        case cancelled
    }

    public var channel: Channel { adapter.channel }
    public let adapter: any ChannelAdapter
    /// The number of calls let through at once.
    public let limit: Int
    private let settings: Settings
    private let breaker: Breaker
    private let places: Places
    private let logger: Logger

    public init(_ adapter: any ChannelAdapter, settings: Settings, defaultLimit: Int, logger: Logger) {
        self.adapter = adapter
        self.settings = settings
        // Unset: three quarters of the worker's slots, so one channel waiting on its breaker
        // can never hold every slot while the others have orders to run.
        self.limit = max(1, settings.concurrency ?? (defaultLimit * 3 / 4))
        self.places = Places(limit)
        self.breaker = Breaker(
            minimumCalls: settings.minimumCallsByChannel[adapter.channel] ?? settings.minimumCalls, failureRatio: settings.failureRatio,
            window: settings.window, openFor: settings.openFor)
        self.logger = logger
        Telemetry.breakerOpen(adapter.channel).record(0)
    }

    /// Waits until a call may be sent: the breaker lets it through and a place is free. Gives
    /// up after `maxWait` of an open breaker (never because places are busy: that only slows).
    /// Returns nil when admitted: then exactly one of `call` or `abandon` must follow.
    public func admit(maxWait: Duration) async -> Refusal? {
        if adapter is UnconfiguredChannel { return .notConfigured }
        let giveUp = ContinuousClock.now + maxWait
        if settings.breakerEnabled {
            while !breaker.allows() {
                if Task.isCancelled || Task.isShuttingDownGracefully { return .cancelled }
                if ContinuousClock.now >= giveUp { return .circuitOpen }
                Telemetry.channelCalls(channel, outcome: "delayed").increment()
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        guard await places.take() else {
            if settings.breakerEnabled { breaker.release() }
            return .cancelled
        }
        return nil
    }

    /// A call `admit` let through was not made after all (the writer lost its lease).
    public func abandon() {
        places.give()
        if settings.breakerEnabled { breaker.release() }
    }

    /// Sends one admitted call. Every charge of every pipeline passes here, so the channel-call
    /// metrics are kept here: calls by outcome and the latency of the calls made.
    public func call(_ request: ChargeRequest) async -> ChannelOutcome {
        let started = ContinuousClock.now
        let outcome = await adapter.charge(request)
        places.give()
        Telemetry.channelLatency(channel).recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
        Telemetry.channelCalls(channel, outcome: outcome.kind).increment()
        guard settings.breakerEnabled else { return outcome }
        switch breaker.record(failed: outcome.countsAgainstBreaker) {
        case .opened:
            Telemetry.breakerOpen(channel).record(1)
            logger.warning("circuit breaker opened", metadata: ["channel": "\(channel.rawValue)", "last_error": "\(outcome.reason?.code ?? "-")"])
        case .closed:
            Telemetry.breakerOpen(channel).record(0)
            logger.notice("circuit breaker closed", metadata: ["channel": "\(channel.rawValue)"])
        case .unchanged: break
        }
        return outcome
    }

    /// Admits and sends one call without a hand-off in between (replays, tests).
    public func charge(_ request: ChargeRequest, maxWait: Duration = .seconds(30)) async -> ChannelOutcome? {
        guard await admit(maxWait: maxWait) == nil else { return nil }
        return await call(request)
    }

    public func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        await adapter.lookup(request, reference: reference)
    }

    /// Whether the breaker refuses calls now (for logs and metrics).
    public var isOpen: Bool { settings.breakerEnabled && breaker.isOpen }
}

/// Closed → (enough calls in the window, enough of them failed) → open → (after `openFor`)
/// half-open: one probe; its success closes the breaker, its failure opens it again.
final class Breaker: Sendable {
    enum Change { case opened, closed, unchanged }
    private struct State {
        /// Per second of the window: (calls, failures), oldest first.
        var buckets: [(second: Int64, calls: Int, failures: Int)] = []
        var openUntil: ContinuousClock.Instant? = nil
        var probing = false
    }

    private let minimumCalls: Int
    private let failureRatio: Double
    private let windowSeconds: Int64
    private let openFor: Duration
    private let state = Mutex(State())
    /// The time, from the system clock unless a test steps it by hand.
    private let now: @Sendable () -> ContinuousClock.Instant
    private let start: ContinuousClock.Instant

    init(
        minimumCalls: Int, failureRatio: Double, window: Duration, openFor: Duration,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.now = now
        self.start = now()
        self.minimumCalls = minimumCalls
        self.failureRatio = failureRatio
        self.windowSeconds = max(1, window.components.seconds)
        self.openFor = openFor
    }

    var isOpen: Bool { state.withLock { state in state.openUntil.map { now() < $0 } ?? false } }

    func allows() -> Bool {
        state.withLock { state in
            guard let until = state.openUntil else { return true }
            if now() < until || state.probing { return false }
            state.probing = true
            return true
        }
    }

    /// A call allowed by `allows` was not made after all.
    func release() { state.withLock { $0.probing = false } }

    func record(failed: Bool) -> Change {
        let second = (now() - start).components.seconds
        return state.withLock { state in
            if state.openUntil != nil {
                // Calls let through before the breaker opened may still be answering: only the
                // half-open probe decides.
                guard state.probing else { return .unchanged }
                state.probing = false
                if failed {
                    state.openUntil = now() + openFor
                    return .unchanged
                }
                state.openUntil = nil
                state.buckets = []
                return .closed
            }
            state.buckets.removeAll { $0.second <= second - windowSeconds }
            if let last = state.buckets.indices.last, state.buckets[last].second == second {
                state.buckets[last].calls += 1
                state.buckets[last].failures += failed ? 1 : 0
            } else {
                state.buckets.append((second, 1, failed ? 1 : 0))
            }
            let calls = state.buckets.reduce(0) { $0 + $1.calls }
            let failures = state.buckets.reduce(0) { $0 + $1.failures }
            guard failed, calls >= minimumCalls, Double(failures) >= failureRatio * Double(calls) else { return .unchanged }
            state.openUntil = now() + openFor
            return .opened
        }
    }
}

/// A channel's places for calls in flight: a counting semaphore whose waiters queue in order.
final class Places: Sendable {
    private struct State {
        var free: Int
        var waiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextID = 0
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: count)) }

    /// Waits for a free place; false when cancelled first.
    func take() async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let granted = state.withLock { state -> Bool? in
                    if Task.isCancelled { return false }
                    if state.free > 0 {
                        state.free -= 1
                        return true
                    }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let granted { continuation.resume(returning: granted) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: false)
        }
    }

    func give() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.free += 1
            return nil
        }
        waiter?.resume(returning: true)
    }
}
