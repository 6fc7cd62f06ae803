public import CashierCore

/// How the retry worker behaves. Parsed and validated by the CLI; defaults are the contract's.
public struct RetryWorkerConfiguration: Sendable {
    public var topics = Topics()
    public var groupID = "cashier-retry"
    /// Retries running at once in this process.
    public var concurrency = 64
    public var retryPolicy = RetryPolicy.default
    /// Same-key repeats that resolve an unknown outcome in place (see `PaymentCharger`).
    public var unknownOutcomeRepeats = 2
    /// How long a claimed retry belongs to this process. It must outlast a call with its
    /// in-place repeats; after it runs out (the process died) another retry worker claims it.
    public var lease: Duration = .seconds(90)
    /// How often the schedule is checked for due payments when nothing rings earlier; bounds
    /// how late a due retry can start.
    public var schedulePoll: Duration = .milliseconds(200)
    public var shutdownDeadline: Duration = .seconds(25)
    /// Names this process in attempt rows.
    public var workerName = "cashier-retry"

    public init() {}

    /// A lease long enough for one call of `timeout` and its repeats, with room to record it.
    public static func lease(forChannelTimeout timeout: Duration, repeats: Int) -> Duration {
        timeout * (repeats + 1) + .milliseconds(250 * repeats * (repeats + 1) / 2) + .seconds(30)
    }
}
