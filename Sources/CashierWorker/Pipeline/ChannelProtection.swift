public import CashierChannels
public import CashierCore
public import Logging
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
        /// Consecutive failed calls (retryable or unknown) that open the breaker.
        public var failureThreshold = 5
        /// How long an open breaker refuses calls before one probe is let through.
        public var openFor: Duration = .seconds(30)

        public init() {}
    }

    public var channel: Channel { wrapped.channel }
    private let wrapped: any ChannelAdapter
    private let settings: Settings
    private let breaker: Breaker
    private let inFlight = Counter()
    private let logger: Logger

    public init(_ wrapped: any ChannelAdapter, settings: Settings, logger: Logger) {
        self.wrapped = wrapped
        self.settings = settings
        self.breaker = Breaker(threshold: settings.failureThreshold, openFor: settings.openFor)
        self.logger = logger
    }

    public func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        guard breaker.allows() else {
            return .retryable(Reason(code: "circuit_open", message: "\(channel.rawValue) channel breaker is open after repeated failures; not called"))
        }
        guard await inFlight.enter(limit: settings.concurrency, within: settings.permitWait) else {
            breaker.release()
            return .retryable(Reason(code: "channel_busy", message: "\(channel.rawValue) channel has \(settings.concurrency) calls in flight; not called"))
        }
        let outcome = await wrapped.charge(request)
        inFlight.leave()
        switch breaker.record(failed: outcome.kind == "retryable" || outcome.kind == "unknown") {
        case .opened: logger.warning("circuit breaker opened", metadata: ["channel": "\(channel.rawValue)", "last_error": "\(outcome.reason?.code ?? "-")"])
        case .closed: logger.notice("circuit breaker closed", metadata: ["channel": "\(channel.rawValue)"])
        case .unchanged: break
        }
        return outcome
    }

    public func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        await wrapped.lookup(request, reference: reference)
    }

    /// Whether the breaker refuses calls now (for logs and metrics).
    public var isOpen: Bool { breaker.isOpen }
}

/// Closed → (threshold consecutive failures) → open → (after `openFor`) half-open: one probe;
/// its success closes the breaker, its failure opens it again.
final class Breaker: Sendable {
    enum Change { case opened, closed, unchanged }
    private struct State {
        var failures = 0
        var openUntil: ContinuousClock.Instant? = nil
        var probing = false
    }

    private let threshold: Int
    private let openFor: Duration
    private let state = Mutex(State())

    init(threshold: Int, openFor: Duration) {
        self.threshold = threshold
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
        state.withLock { state in
            let wasOpen = state.openUntil != nil
            state.probing = false
            if failed {
                state.failures += 1
                if state.failures >= threshold || wasOpen {
                    state.openUntil = ContinuousClock.now + openFor
                    return wasOpen ? .unchanged : .opened
                }
                return .unchanged
            }
            state.failures = 0
            state.openUntil = nil
            return wasOpen ? .closed : .unchanged
        }
    }
}

/// Calls in flight, with a bounded wait for a free place.
final class Counter: Sendable {
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
