import ArgumentParser
import CashierCore

struct RetryOptions: ParsableArguments {
    @Option(name: .customLong("retry-base-ms"), help: "First retry's upper wait bound (env CASHIER_RETRY_BASE_MS, default 1000).")
    var baseMilliseconds: Int?
    @Option(name: .customLong("retry-factor"), help: "Growth per retry (env CASHIER_RETRY_FACTOR, default 2).")
    var factor: Double?
    @Option(name: .customLong("retry-max-ms"), help: "Largest wait bound (env CASHIER_RETRY_MAX_MS, default 300000).")
    var maxMilliseconds: Int?
    @Option(name: .customLong("retry-max-attempts"), help: "Channel calls per order, the first included (env CASHIER_RETRY_MAX_ATTEMPTS, default 8).")
    var maxAttempts: Int?

    func policy() throws -> RetryPolicy {
        let base = try Env.int(baseMilliseconds, "CASHIER_RETRY_BASE_MS", default: 1000, range: 1...86_400_000, flagName: "--retry-base-ms")
        let factor = try Env.double(self.factor, "CASHIER_RETRY_FACTOR", default: 2, range: 1...100, flagName: "--retry-factor")
        let max = try Env.int(maxMilliseconds, "CASHIER_RETRY_MAX_MS", default: 300_000, range: 1...86_400_000, flagName: "--retry-max-ms")
        let attempts = try Env.int(maxAttempts, "CASHIER_RETRY_MAX_ATTEMPTS", default: 8, range: 1...100, flagName: "--retry-max-attempts")
        guard max >= base else {
            throw CLIError("retry max (\(max) ms) is below retry base (\(base) ms); raise CASHIER_RETRY_MAX_MS or lower CASHIER_RETRY_BASE_MS")
        }
        return RetryPolicy(baseMilliseconds: Int64(base), factor: factor, maxMilliseconds: Int64(max), maxAttempts: attempts)
    }

    /// When unknown outcomes are looked up (environment only): CASHIER_LOOKUP_BASE_MS (200),
    /// CASHIER_LOOKUP_MAX_MS (60000), CASHIER_UNKNOWN_HORIZON_MS (86400000, 24 h), and
    /// CASHIER_LOOKUP_SETTLE_MS (twice the channel timeout): how long after a call a lookup's
    /// "no charge" is believed, and CASHIER_LOOKUP_SEARCH_LAG_MS (60000) when it was found by a
    /// search that lags (card without an intent id).
    func lookupPolicy(channelTimeout: Duration) throws -> LookupPolicy {
        let base = try Env.int(nil, "CASHIER_LOOKUP_BASE_MS", default: 200, range: 1...3_600_000, flagName: "")
        let max = try Env.int(nil, "CASHIER_LOOKUP_MAX_MS", default: 60_000, range: 1...86_400_000, flagName: "")
        let horizon = try Env.int(nil, "CASHIER_UNKNOWN_HORIZON_MS", default: 86_400_000, range: 1...(30 * 86_400_000), flagName: "")
        guard max >= base else {
            throw CLIError("lookup max (\(max) ms) is below lookup base (\(base) ms); raise CASHIER_LOOKUP_MAX_MS or lower CASHIER_LOOKUP_BASE_MS")
        }
        let settle = try Env.int(
            nil, "CASHIER_LOOKUP_SETTLE_MS", default: Int(channelTimeout.wholeMilliseconds) * 2, range: 0...86_400_000, flagName: "")
        var policy = LookupPolicy(
            delays: RetryPolicy(baseMilliseconds: Int64(base), factor: 2, maxMilliseconds: Int64(max), maxAttempts: .max),
            horizonMilliseconds: Int64(horizon), settleMilliseconds: Int64(settle))
        policy.searchLagMilliseconds = Int64(try Env.int(nil, "CASHIER_LOOKUP_SEARCH_LAG_MS", default: 60_000, range: 0...3_600_000, flagName: ""))
        return policy
    }

    /// How long a process's hold on a payment lasts unless renewed: CASHIER_LEASE_MS (30000).
    func lease() throws -> Duration {
        .milliseconds(try Env.int(nil, "CASHIER_LEASE_MS", default: 30_000, range: 300...3_600_000, flagName: ""))
    }
}
