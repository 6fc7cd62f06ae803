public import CashierCore

/// How the order worker behaves. Parsed and validated by the CLI; defaults are the contract's.
public struct WorkerConfiguration: Sendable {
    public var topics = Topics()
    public var groupID = "cashier-payments"
    /// Orders processed at once (never two of the same order).
    public var concurrency = 64
    public var retryPolicy = RetryPolicy.default
    /// How often an unknown outcome is resolved in place by repeating the call with the same
    /// key before the order is handed to the retry topic.
    public var unknownOutcomeRepeats = 2
    /// How long in-flight work may take to finish after SIGTERM before it is abandoned
    /// (abandoned work is not committed, so it is redone by the next owner).
    public var shutdownDeadline: Duration = .seconds(25)
    /// Names this process in attempt rows.
    public var workerName = "cashier"

    public init() {}
}
