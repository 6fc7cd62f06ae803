/// When an unknown outcome is looked up again (DESIGN.md invariant 6): the k-th lookup waits a
/// jittered, capped, exponentially growing time, and a payment the channel still cannot tell
/// about after `horizon` is parked for a person (dead letter `outcome_unknown`).
public struct LookupPolicy: Sendable, Equatable {
    /// The delays, drawn like retry delays: uniform in [½·d, d], d = min(max, base·factor^(k−1)).
    public var delays: RetryPolicy
    public var horizonMilliseconds: Int64
    /// How long after a call was sent a lookup's "no charge" is believed. Until then the call
    /// may still be running at the channel (a timeout ends our wait, not the channel's work; a
    /// 409 says so outright), and a search that finds nothing only means "not yet".
    public var settleMilliseconds: Int64
    /// How far a channel's *search* may lag its writes (Stripe's search index: up to a minute):
    /// a "no charge" found by searching, not by the charge's own id, is believed only after it.
    public var searchLagMilliseconds: Int64 = 60_000
    /// The wait bound before the first lookup of an answer in progress (a WeChat Pay deduction
    /// pending, a card intent `processing`, an Alipay trade waiting): the channel is working and
    /// its notification normally settles the payment first, so asking at once only costs a
    /// signed call (two RSA signatures with WeChat Pay) that finds "still pending". Drawn in
    /// [½·d, d] like every delay.
    public var firstInProgressMilliseconds: Int64 = 2000

    public static let `default` = LookupPolicy(
        delays: RetryPolicy(baseMilliseconds: 200, factor: 2, maxMilliseconds: 60_000, maxAttempts: .max), horizonMilliseconds: 86_400_000,
        settleMilliseconds: 20_000)

    public init(delays: RetryPolicy, horizonMilliseconds: Int64, settleMilliseconds: Int64 = 20_000) {
        self.delays = delays
        self.horizonMilliseconds = horizonMilliseconds
        self.settleMilliseconds = settleMilliseconds
    }

    /// Whether a lookup that found no charge may be believed, the last call having been sent at
    /// `lastCall` and the lookup at `now` — the time the lookup was *sent*, not when it
    /// answered: a lookup sent inside the window may have looked before the call finished.
    public func believesNoCharge(lastCall: Int64?, now: Int64, bySearch: Bool = false) -> Bool {
        guard let lastCall else { return true }
        return now - lastCall >= (bySearch ? max(settleMilliseconds, searchLagMilliseconds) : settleMilliseconds)
    }

    /// The wait before lookup number `k` (k ≥ 1).
    public func delayMilliseconds(lookup k: Int, using generator: inout some RandomNumberGenerator) -> Int64 {
        delays.delayMilliseconds(retry: max(1, k), using: &generator)
    }

    /// The wait before the first lookup of an answer in progress.
    public func firstInProgressDelayMilliseconds(using generator: inout some RandomNumberGenerator) -> Int64 {
        RetryPolicy.jittered(max(firstInProgressMilliseconds, delays.ceilingMilliseconds(retry: 1)), using: &generator)
    }

    /// Whether a payment unknown since `since` has passed the horizon at `now`.
    public func isPastHorizon(unknownSince since: Int64, now: Int64) -> Bool { now - since >= horizonMilliseconds }
}
