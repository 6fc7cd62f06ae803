public import CashierCore

/// A payment held by this process under a lease: what it needs to make the next call, look
/// the payment up, or record an outcome. Every write names `lease` and `attempt`, so a writer
/// whose lease was taken over is refused (fencing).
public struct PaymentTicket: Sendable, Equatable {
    public let paymentID: String
    public let order: OrderCreated
    public let idempotencyKey: String
    /// The number of the last call sent for the payment, from the database (0: none yet).
    public var attempt: Int
    /// This holder's lease token.
    public let lease: String
    /// The state the payment is held in.
    public var state: PaymentState
    /// The channel's id for the charge, when an earlier answer named one.
    public var reference: String?
    /// Lookups made since the outcome became unknown, and when it did (milliseconds since the epoch).
    public var lookups: Int
    public var unknownSinceMilliseconds: Int64?
    /// When the last call was sent (milliseconds since the epoch, on this process's clock), if any.
    public var lastCallMilliseconds: Int64?
    /// The error the last call was answered with, if it was (a claimed retry or lookup).
    public var lastCallError: Reason?
    /// Since when no call could be sent for the payment (its channel unreachable, its circuit
    /// open), in milliseconds since the epoch on this process's clock; nil while calls go out.
    public var unsentSinceMilliseconds: Int64?
    /// Attempts of this payment closed as `interrupted` (a crash or a take-over between opening
    /// the attempt and recording its answer): calls that may never have been sent.
    public var interruptedAttempts = 0

    /// The attempts that count against the retry policy. An interrupted attempt may not have
    /// been sent, so our crash does not use up the buyer's attempts (invariant 7): up to half
    /// of them, rounded up, are forgiven (bounded, so a crash loop cannot call for ever; rounded
    /// up, so a first attempt cut short under a policy of one attempt is still made). Calling
    /// again is safe: the same idempotency key, and a lookup first whenever a call may have charged.
    public var countedAttempts: Int { callsSent - min(interruptedAttempts, (callsSent + 1) / 2) }
    /// Attempts of this payment whose charge never left (`not_sent`): tries, not calls
    /// (invariant 7). Their numbers are not reused.
    public var notSentAttempts = 0
    /// The calls sent for the payment (what a result or a dead letter names as its attempts).
    public var callsSent: Int { max(0, attempt - notSentAttempts) }
    /// Whether an earlier holder's call was interrupted before its outcome was recorded.
    public let resumed: Bool
    /// Whether the attempt row of the next call is already open (a new order accepted with its
    /// channel's place in hand): the call is to be sent now, without another `send`.
    public var attemptOpen = false
    /// The order event's W3C `traceparent`, carried into every event about this payment.
    public var traceparent: String?

    public init(
        paymentID: String, order: OrderCreated, idempotencyKey: String, attempt: Int, lease: String, state: PaymentState,
        reference: String? = nil, lookups: Int = 0, unknownSinceMilliseconds: Int64? = nil, lastCallMilliseconds: Int64? = nil,
        resumed: Bool = false, traceparent: String? = nil
    ) {
        self.lastCallMilliseconds = lastCallMilliseconds
        self.paymentID = paymentID
        self.order = order
        self.idempotencyKey = idempotencyKey
        self.attempt = attempt
        self.lease = lease
        self.state = state
        self.reference = reference
        self.lookups = lookups
        self.unknownSinceMilliseconds = unknownSinceMilliseconds
        self.resumed = resumed
        self.traceparent = traceparent
    }
}

/// What the store decided about an incoming valid event.
public enum Acceptance: Sendable, Equatable {
    /// Charge now (a new order, or one whose previous holder's lease lapsed).
    case charge(PaymentTicket)
    /// The same order again: nothing to do, its own outcome stands, or a live holder (or the
    /// retry schedule) is driving it.
    case duplicate(state: PaymentState)
    /// Same order id, different chargeable fields: dead-lettered, never charged.
    case conflict
    /// An earlier event of this order was rejected because its record could not be stored
    /// (`storage_error`, `PaymentStore.deadLetterPoison`): the buyer was told "not charged", so
    /// the order is never charged; nothing more is published.
    case rejectedEarlier
}

/// What a success learned out of band (a notification, or a writer whose lease was lost) did.
public enum LearnedSuccess: Sendable, Equatable {
    /// The payment is now `succeeded` and its result is in the outbox.
    case settled(orderID: String)
    /// It had already succeeded: nothing changed.
    case alreadySucceeded(orderID: String)
    /// It was `failed` after the channel said "not charged": recorded and dead-lettered as
    /// `channel_contradiction` for a person; no second result.
    case contradiction(orderID: String)
    /// The channel reports the success on other terms than the payment's (`ReportedTerms`):
    /// nothing changed; the payment's own lookups park it for a person.
    case termsMismatch(orderID: String, reason: Reason)
    /// No payment has this idempotency key (on this channel).
    case unknownPayment
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

/// A valid order whose record cannot be stored, and the `rejected` result it is told
/// (`PaymentStore.deadLetterPoison`).
public struct StorageRejection: Sendable {
    public let order: OrderCreated
    public let result: ResultEvent

    public init(order: OrderCreated, result: ResultEvent) {
        self.order = order
        self.result = result
    }
}
