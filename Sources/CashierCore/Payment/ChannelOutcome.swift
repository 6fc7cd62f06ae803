/// What a channel call told us, classified (DESIGN.md section 6).
public enum ChannelOutcome: Sendable, Equatable {
    /// The money moved. `reference` is the channel's id for the charge (e.g. `pi_…`).
    case succeeded(reference: String)
    /// The channel refused the charge for good (decline, insufficient funds, bad request).
    case declined(Reason)
    /// The channel did not process the call, so nothing was charged, and the same call may
    /// succeed later: the channel refused it before doing anything (429 rate limit, rejected
    /// credentials). With `notSent`, the retryable answers that may end a payment `failed`
    /// without a lookup.
    case notProcessed(Reason)
    /// The charge never left this process: no connection could be made (refused, none from
    /// the pool in time), or a repeat's query of the earlier call could not tell, so the repeat
    /// sent no charge. Nothing was charged by this call, and it is no attempt (DESIGN.md
    /// invariant 7: attempts count calls sent): the payment waits and tries again, and only
    /// time — `RetryPolicy.unsentHorizonMilliseconds` — ends it.
    case notSent(Reason)
    /// A server error (5xx): retry with the same key. Whether the channel charged before it
    /// failed is not said, so when no attempt is left the payment is looked up before it may
    /// fail (DESIGN.md invariant 6: `failed` only on a decline or a lookup finding no charge).
    case retryable(Reason)
    /// The charge may or may not have happened (timeout, `processing`, a pending deduction, a
    /// stalled or unverifiable answer): never reported as a failure; the payment is looked up
    /// until the channel can tell (DESIGN.md invariant 6). `reference` is the channel's id for
    /// the charge when the answer named one (a card intent still `processing`), so the lookup
    /// can ask for it directly.
    case unknown(Reason, reference: String? = nil)

    /// A short name for logs, metrics and attempt rows.
    public var kind: String {
        switch self {
        case .succeeded: "succeeded"
        case .declined: "declined"
        case .notProcessed: Self.notProcessedKind
        case .notSent: Self.notSentKind
        case .retryable: "retryable"
        case .unknown: "unknown"
        }
    }

    /// The kind of a `notProcessed` answer, as attempt rows store it.
    public static let notProcessedKind = "not_processed"
    /// The kind of a `notSent` answer, as attempt rows store it (a fenced-out writer's row).
    public static let notSentKind = "not_sent"

    /// Whether the answer says this call charged nothing and may be made again: `notProcessed`
    /// or `notSent` (a decline charged nothing too, but is final).
    public var chargedNothing: Bool {
        switch self {
        case .notProcessed, .notSent: true
        case .succeeded, .declined, .retryable, .unknown: false
        }
    }

    /// The channel's id for the charge, when it succeeded or when an unknown answer named one.
    public var reference: String? {
        switch self {
        case .succeeded(let reference): reference
        case .unknown(_, let reference): reference
        case .declined, .notProcessed, .notSent, .retryable: nil
        }
    }

    /// Whether the answer says the channel accepted the charge and is still working on it (a
    /// pending deduction, a `processing` intent, Alipay's `10003`/`WAIT_BUYER_PAY`): unknown
    /// for the payment, but a sign of a healthy channel, so it never counts against a breaker.
    public var isInProgress: Bool {
        guard case .unknown(let reason, _) = self else { return false }
        return Self.inProgressCodes.contains(reason.code) || reason.code.hasPrefix("intent_")
    }

    static let inProgressCodes: Set<String> = ["pending", "processing", "alipay_10003", "alipay_WAIT_BUYER_PAY", "ACQ.TRADE_HAS_SUCCESS"]

    /// Whether the answer counts against the channel's circuit breaker: errors, refusals and
    /// unknown outcomes do; an answer in progress does not, nor one saying a request with this
    /// key or trade number came before (a card 409 or 400 `idempotency_error`, Alipay
    /// `ACQ.CONTEXT_INCONSISTENT`, WeChat `OUT_TRADE_NO_USED`), nor a success on other terms
    /// than ours (`termsMismatchCode`): a healthy channel answering promptly, however the
    /// payment is then resolved.
    public var countsAgainstBreaker: Bool {
        switch self {
        case .succeeded, .declined: false
        case .notProcessed, .notSent, .retryable: true
        case .unknown(let reason, _): !isInProgress && !Self.healthyUnknownCodes.contains(reason.code)
        }
    }

    /// Unknown outcomes a healthy channel gives promptly (see `countsAgainstBreaker`).
    static let healthyUnknownCodes: Set<String> = [
        "idempotency_key_in_use", "idempotency_error", "ACQ.CONTEXT_INCONSISTENT", "OUT_TRADE_NO_USED", termsMismatchCode,
    ]

    /// The reason code of a success the channel reports for our idempotency reference on other
    /// terms than the payment's — another amount, currency or merchant, or none it states.
    /// Money moved under our reference, so the payment may not fail; but it is not the charge we
    /// asked for, so it may not succeed either: it is unknown, and parked at once for a person
    /// (a dead letter of this code), never looked up for a day.
    public static let termsMismatchCode = "terms_mismatch"

    public var reason: Reason? {
        switch self {
        case .succeeded: nil
        case .declined(let reason), .notProcessed(let reason), .notSent(let reason), .retryable(let reason), .unknown(let reason, _): reason
        }
    }
}
