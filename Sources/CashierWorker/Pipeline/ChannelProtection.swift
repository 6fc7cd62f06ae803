public import CashierChannels
public import CashierCore
public import Logging
import Metrics
import Synchronization

/// Per-channel protection around an adapter: a concurrency limit and a circuit breaker, so one
/// failing or slow channel cannot take every worker slot from the others. A call refused by
/// either is answered `retryable` at once (nothing was sent), and the order takes the retry path.
public struct ChannelProtection: ChannelAdapter {
    public struct Settings: Sendable {
        /// Calls in flight to one channel at most.
        public var concurrency = 32
        /// How long a call waits for a free place before it is sent to the retry path.
        public var permitWait: Duration = .seconds(2)
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

    public var channel: Channel { wrapped.channel }
    private let wrapped: any ChannelAdapter
    private let settings: Settings
    private let breaker: Breaker
    private let inFlight = CallCounter()
    private let logger: Logger

    public init(_ wrapped: any ChannelAdapter, settings: Settings, logger: Logger) {
        self.wrapped = wrapped
        self.settings = settings
        self.breaker = Breaker(
            minimumCalls: settings.minimumCallsByChannel[wrapped.channel] ?? settings.minimumCalls, failureRatio: settings.failureRatio,
            window: settings.window, openFor: settings.openFor)
        self.logger = logger
        Telemetry.breakerOpen(wrapped.channel).record(0)
    }

    /// Every charge of every pipeline passes here, so the channel-call metrics are kept here:
    /// calls by outcome (`refused` when not sent) and the latency of the calls made.
    public func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        guard !settings.breakerEnabled || breaker.allows() else {
            return refused(Reason(code: "circuit_open", message: "\(channel.rawValue) channel breaker is open after repeated failures; not called"))
        }
        guard await inFlight.enter(limit: settings.concurrency, within: settings.permitWait) else {
            if settings.breakerEnabled { breaker.release() }
            return refused(Reason(code: "channel_busy", message: "\(channel.rawValue) channel has \(settings.concurrency) calls in flight; not called"))
        }
        let started = ContinuousClock.now
        let outcome = await wrapped.charge(request)
        inFlight.leave()
        Telemetry.channelLatency(channel).recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
        Telemetry.channelCalls(channel, outcome: outcome.kind).increment()
        guard settings.breakerEnabled else { return outcome }
        let failed = switch outcome {
        case .succeeded, .declined: false
        case .retryable, .unknown: true
        }
        switch breaker.record(failed: failed) {
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

    private func refused(_ reason: Reason) -> ChannelOutcome {
        Telemetry.channelCalls(channel, outcome: "refused").increment()
        return .retryable(reason)
    }

    public func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        await wrapped.lookup(request, reference: reference)
    }

    /// Whether the breaker refuses calls now (for logs and metrics).
    public var isOpen: Bool { breaker.isOpen }
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
    private let start = ContinuousClock.now

    init(minimumCalls: Int, failureRatio: Double, window: Duration, openFor: Duration) {
        self.minimumCalls = minimumCalls
        self.failureRatio = failureRatio
        self.windowSeconds = max(1, window.components.seconds)
        self.openFor = openFor
    }

    var isOpen: Bool { state.withLock { state in state.openUntil.map { ContinuousClock.now < $0 } ?? false } }

    func allows() -> Bool {
        state.withLock { state in
            guard let until = state.openUntil else { return true }
            if ContinuousClock.now < until || state.probing { return false }
            state.probing = true
            return true
        }
    }

    /// A call allowed by `allows` was not made after all.
    func release() { state.withLock { $0.probing = false } }

    func record(failed: Bool) -> Change {
        let second = (ContinuousClock.now - start).components.seconds
        return state.withLock { state in
            if state.openUntil != nil {
                // Only the half-open probe gets here: it decides alone.
                state.probing = false
                if failed {
                    state.openUntil = ContinuousClock.now + openFor
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
            state.openUntil = ContinuousClock.now + openFor
            return .opened
        }
    }
}

/// Calls in flight, with a bounded wait for a free place.
final class CallCounter: Sendable {
    private let value = Atomic<Int>(0)

    func enter(limit: Int, within wait: Duration) async -> Bool {
        let deadline = ContinuousClock.now + wait
        while true {
            let current = value.load(ordering: .relaxed)
            if current < limit {
                if value.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing).exchanged { return true }
                continue
            }
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    func leave() { value.subtract(1, ordering: .relaxed) }
}
