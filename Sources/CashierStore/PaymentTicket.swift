public import CashierCore

/// Permission to make one channel call for a payment: the attempt row already exists, so a
/// crash during the call leaves a visible trace and the next owner resumes with the same key.
public struct PaymentTicket: Sendable, Equatable {
    public let paymentID: String
    public let order: OrderCreated
    public let idempotencyKey: String
    /// The number of this call, counting from 1 over the payment's whole life.
    public let attempt: Int
    /// Whether an earlier call was interrupted (a crash or a lost partition) before its outcome
    /// was recorded.
    public let resumed: Bool
    /// The order event's W3C `traceparent`, carried into every event about this payment.
    public var traceparent: String?

    public init(paymentID: String, order: OrderCreated, idempotencyKey: String, attempt: Int, resumed: Bool, traceparent: String? = nil) {
        self.traceparent = traceparent
        self.paymentID = paymentID
        self.order = order
        self.idempotencyKey = idempotencyKey
        self.attempt = attempt
        self.resumed = resumed
    }
}

/// What the store decided about an incoming valid event.
public enum Acceptance: Sendable, Equatable {
    /// Charge now (a new order, or one whose previous call never recorded an outcome).
    case charge(PaymentTicket)
    /// The same order again: nothing to do, its own outcome stands (or is being retried).
    case duplicate(state: PaymentState)
    /// Same order id, different chargeable fields: dead-lettered, never charged.
    case conflict
}

/// A message waiting in the outbox to be published.
public struct OutboxRecord: Sendable, Equatable {
    public enum Kind: String, Sendable { case result, retry, dlq }
    public let id: Int64
    public let kind: Kind
    public let key: String
    public let payload: String
    public let traceparent: String?
}
