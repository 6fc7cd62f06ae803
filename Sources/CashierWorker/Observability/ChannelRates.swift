public import CashierCore
import Synchronization

/// The platform's headline numbers: per channel, the share of settled payments that succeeded
/// and that failed over the last 1, 5 and 15 minutes, kept in per-second buckets.
public final class ChannelRates: Sendable {
    public static let shared = ChannelRates()
    public static let windows: [(name: String, seconds: Int64)] = [("1m", 60), ("5m", 300), ("15m", 900)]

    private struct Bucket { var second: Int64 = -1; var succeeded = 0; var failed = 0 }
    private let buckets = Mutex<[Channel: [Bucket]]>([:])
    private let start = ContinuousClock.now

    public init() {}

    private var second: Int64 { (ContinuousClock.now - start).components.seconds }

    public func record(_ channel: Channel, succeeded: Bool) {
        let now = second
        buckets.withLock { all in
            // In place: the ring is not copied on every record.
            let index = Int(now % 900)
            if all[channel] == nil { all[channel] = Array(repeating: Bucket(), count: 900) }
            if all[channel]![index].second != now { all[channel]![index] = Bucket(second: now) }
            if succeeded { all[channel]![index].succeeded += 1 } else { all[channel]![index].failed += 1 }
        }
    }

    /// (success rate, failure rate, settled count) over the last `seconds`; rates are nil with
    /// nothing settled.
    public func rates(_ channel: Channel, seconds: Int64) -> (success: Double?, failure: Double?, settled: Int) {
        let now = second
        let (succeeded, failed) = buckets.withLock { all -> (Int, Int) in
            guard let ring = all[channel] else { return (0, 0) }
            var counts = (0, 0)
            for bucket in ring where bucket.second > now - seconds && bucket.second >= 0 {
                counts.0 += bucket.succeeded
                counts.1 += bucket.failed
            }
            return counts
        }
        let settled = succeeded + failed
        guard settled > 0 else { return (nil, nil, 0) }
        return (Double(succeeded) / Double(settled), Double(failed) / Double(settled), settled)
    }

    /// Copies the rates into their gauges (called before each scrape and periodically).
    public func export() {
        for channel in Channel.allCases {
            for window in Self.windows {
                let (success, failure, _) = rates(channel, seconds: window.seconds)
                Telemetry.successRate(channel, window: window.name).record(success ?? 0)
                Telemetry.failureRate(channel, window: window.name).record(failure ?? 0)
            }
        }
    }
}
