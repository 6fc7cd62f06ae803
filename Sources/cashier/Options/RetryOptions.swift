import ArgumentParser
import CashierCore

struct RetryOptions: ParsableArguments {
    @Option(name: .customLong(Settings.retryBase.flag!), help: Settings.retryBase.flagHelp)
    var baseMilliseconds: Int?
    @Option(name: .customLong(Settings.retryFactor.flag!), help: Settings.retryFactor.flagHelp)
    var factor: Double?
    @Option(name: .customLong(Settings.retryMax.flag!), help: Settings.retryMax.flagHelp)
    var maxMilliseconds: Int?
    @Option(name: .customLong(Settings.retryMaxAttempts.flag!), help: Settings.retryMaxAttempts.flagHelp)
    var maxAttempts: Int?

    func policy(_ settings: SettingsReader) throws -> RetryPolicy {
        let base = try settings.value(Settings.retryBase, flag: baseMilliseconds)
        let factor = try settings.value(Settings.retryFactor, flag: self.factor)
        let max = try settings.value(Settings.retryMax, flag: maxMilliseconds)
        let attempts = try settings.value(Settings.retryMaxAttempts, flag: maxAttempts)
        guard max >= base else {
            throw CLIError("retry max (\(max) ms) is below retry base (\(base) ms); raise CASHIER_RETRY_MAX_MS or lower CASHIER_RETRY_BASE_MS")
        }
        let unsentHorizon = try settings.value(Settings.unsentHorizon)
        return RetryPolicy(
            baseMilliseconds: Int64(base), factor: factor, maxMilliseconds: Int64(max), maxAttempts: attempts,
            unsentHorizonMilliseconds: Int64(unsentHorizon))
    }

    /// When unknown outcomes are looked up (no flags): `Settings.lookupBase`, `.lookupMax`,
    /// `.unknownHorizon`, `.lookupSettle` and `.lookupSearchLag`.
    func lookupPolicy(_ settings: SettingsReader, channelTimeout: Duration) throws -> LookupPolicy {
        let base = try settings.value(Settings.lookupBase)
        let max = try settings.value(Settings.lookupMax)
        let horizon = try settings.value(Settings.unknownHorizon)
        guard max >= base else {
            throw CLIError("lookup max (\(max) ms) is below lookup base (\(base) ms); raise CASHIER_LOOKUP_MAX_MS or lower CASHIER_LOOKUP_BASE_MS")
        }
        let settle = try settings.value(Settings.lookupSettle, default: Int(channelTimeout.wholeMilliseconds) * 2)
        var policy = LookupPolicy(
            delays: RetryPolicy(baseMilliseconds: Int64(base), factor: 2, maxMilliseconds: Int64(max), maxAttempts: .max),
            horizonMilliseconds: Int64(horizon), settleMilliseconds: Int64(settle))
        policy.searchLagMilliseconds = Int64(try settings.value(Settings.lookupSearchLag))
        return policy
    }

    /// How long a process's hold on a payment lasts unless renewed.
    func lease(_ settings: SettingsReader) throws -> Duration {
        .milliseconds(try settings.value(Settings.lease))
    }
}
