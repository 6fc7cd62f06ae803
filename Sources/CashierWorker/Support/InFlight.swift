import Metrics
import Synchronization

/// Counts the work a pipeline has running, so shutdown can wait for it.
final class InFlight: Sendable {
    private let count = Atomic<Int>(0)
    private let gauge: Gauge

    init(pipeline: String) { gauge = Telemetry.inFlight(pipeline) }

    var current: Int { count.load(ordering: .relaxed) }

    func started() { gauge.record(count.add(1, ordering: .relaxed).newValue) }
    func finished() { gauge.record(count.subtract(1, ordering: .relaxed).newValue) }

    /// Waits until nothing runs, the deadline passes, or the task is cancelled; returns how
    /// much is still running (the caller cancels it).
    func drain(within deadline: Duration) async -> Int {
        let end = ContinuousClock.now + deadline
        while current > 0 && ContinuousClock.now < end && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return current
    }
}

/// The pause after the n-th consecutive failure of a storage or broker step: 200 ms doubling
/// up to 5 s, so an outage is waited out without hammering the database.
func failurePause(_ failures: Int) -> Duration {
    .milliseconds(min(5000, 100 << min(max(failures, 1), 6)))
}
