/// The four topic names (DESIGN.md section 2); each configurable.
public struct Topics: Sendable, Equatable {
    public var orders = "orders.created"
    public var results = "payments.results"
    public var retry = "payments.retry"
    public var dlq = "payments.dlq"

    public init() {}

    public var all: [String] { [orders, results, retry, dlq] }
}
