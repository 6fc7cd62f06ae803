/// Exponential backoff with jitter (DESIGN.md section 4).
///
/// The k-th retry waits a uniformly random time in [½·d, d] with d = min(max, base·factor^(k−1)).
/// `maxAttempts` counts every channel call, the first included.
public struct RetryPolicy: Sendable, Equatable {
    public var baseMilliseconds: Int64
    public var factor: Double
    public var maxMilliseconds: Int64
    public var maxAttempts: Int
    /// How long a payment may wait without any call being sent (its channel unreachable, its
    /// circuit open, no credentials here) before it ends: `failed` if no call may have charged,
    /// else looked up. Time, not a count of refused calls, ends it (DESIGN.md invariant 7).
    public var unsentHorizonMilliseconds: Int64

    public static let `default` = RetryPolicy(baseMilliseconds: 1000, factor: 2, maxMilliseconds: 300_000, maxAttempts: 8)
    public static let defaultUnsentHorizonMilliseconds: Int64 = 3_600_000

    public init(
        baseMilliseconds: Int64, factor: Double, maxMilliseconds: Int64, maxAttempts: Int,
        unsentHorizonMilliseconds: Int64 = Self.defaultUnsentHorizonMilliseconds
    ) {
        self.baseMilliseconds = baseMilliseconds
        self.factor = factor
        self.maxMilliseconds = maxMilliseconds
        self.maxAttempts = maxAttempts
        self.unsentHorizonMilliseconds = unsentHorizonMilliseconds
    }

    /// The wait before the next try of a payment no call could be sent for since `waited`
    /// milliseconds: about as long as it has waited already (so the tries thin out
    /// exponentially over time), between `base` and `max`, jittered in [½·d, d].
    public func unsentDelayMilliseconds(waited: Int64, using generator: inout some RandomNumberGenerator) -> Int64 {
        Self.jittered(min(max(waited, baseMilliseconds), maxMilliseconds), using: &generator)
    }

    /// Whether a payment no call could be sent for since `since` has passed the horizon at `now`.
    public func isPastUnsentHorizon(since: Int64, now: Int64) -> Bool { now - since >= unsentHorizonMilliseconds }

    /// The upper bound d of the k-th retry's wait, in milliseconds (k ≥ 1).
    ///
    /// Durations, not money: `Double` is fine here; the result is clamped before conversion.
    public func ceilingMilliseconds(retry k: Int) -> Int64 {
        precondition(k >= 1, "retries are counted from 1")
        let raw = Double(baseMilliseconds) * pow(factor, Double(k - 1))
        guard raw.isFinite, raw < Double(maxMilliseconds) else { return maxMilliseconds }
        return Int64(raw)
    }

    /// The wait before the k-th retry: uniform in [⌈d/2⌉, d].
    public func delayMilliseconds(retry k: Int, using generator: inout some RandomNumberGenerator) -> Int64 {
        Self.jittered(ceilingMilliseconds(retry: k), using: &generator)
    }

    /// A wait uniform in [⌈d/2⌉, d]: waits spread out, so payments that failed together are not
    /// all tried again at one instant.
    static func jittered(_ ceiling: Int64, using generator: inout some RandomNumberGenerator) -> Int64 {
        let floor = (ceiling + 1) / 2
        guard ceiling > floor else { return ceiling }
        return Int64.random(in: floor...ceiling, using: &generator)
    }

    /// Whether another call may be made after `attempts` calls.
    public func allowsAnotherAttempt(after attempts: Int) -> Bool { attempts < maxAttempts }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        var remaining = Int(exponent)
        while remaining > 0 {
            result *= base
            remaining -= 1
            if !result.isFinite || result > 1e18 { return result }
        }
        return result
    }
}
