public import CashierCore

/// How the retry worker behaves. Parsed and validated by the CLI; defaults are the contract's.
public struct RetryWorkerConfiguration: Sendable {
    public var topics = Topics()
    public var groupID = "cashier-retry"
    /// Retries and lookups running at once in this process.
    public var concurrency = 64
    public var retryPolicy = RetryPolicy.default
    public var lookupPolicy = LookupPolicy.default
    /// How often the schedule is checked for due payments when nothing rings earlier; bounds
    /// how late a due retry or lookup can start.
    public var schedulePoll: Duration = .milliseconds(200)
    /// How often `processing` payments whose holder vanished are looked for.
    public var sweepEvery: Duration = .seconds(5)
    public var shutdownDeadline: Duration = .seconds(25)
    /// How long a claimed payment stays this process's unless renewed (see `WorkerConfiguration.lease`).
    public var lease: Duration = .seconds(30)
    /// Names this process in attempt rows.
    public var workerName = "cashier-retry"

    public init() {}
}
