public import CashierCore

/// How the order worker behaves. Parsed and validated by the CLI; defaults are the contract's.
public struct WorkerConfiguration: Sendable {
    public var topics = Topics()
    public var groupID = "cashier-payments"
    /// Orders processed at once (never two of the same order).
    public var concurrency = 64
    public var retryPolicy = RetryPolicy.default
    /// When unknown outcomes are looked up (the retry worker's resolver does the lookups; the
    /// order worker writes the first due time).
    public var lookupPolicy = LookupPolicy.default
    /// How long an order waits for its channel's open breaker before it is put on the retry
    /// schedule without a call.
    public var breakerMaxWait: Duration = .seconds(60)
    /// Records polled but waiting for a saturated channel, at most; past it polling pauses.
    public var maxWaiting: Int? = nil
    /// How long in-flight work may take to finish after SIGTERM before it is abandoned
    /// (abandoned work is not committed, so it is redone by the next owner).
    public var shutdownDeadline: Duration = .seconds(25)
    /// How long an order with nothing finished may hold the line before `/readyz` says stalled.
    public var stallAfter: Duration = .seconds(60)
    /// How long this process's hold on a payment lasts unless renewed (renewed every third of
    /// it while the process lives); after it lapses another process may take the payment over.
    public var lease: Duration = .seconds(30)
    /// Names this process in attempt rows.
    public var workerName = "cashier"

    public init() {}
}
