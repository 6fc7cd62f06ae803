/// What a channel call told us, classified (DESIGN.md section 6).
public enum ChannelOutcome: Sendable, Equatable {
    /// The money moved. `reference` is the channel's id for the charge (e.g. `pi_…`).
    case succeeded(reference: String)
    /// The channel refused the charge for good (decline, insufficient funds, bad request).
    case declined(Reason)
    /// Nothing was charged and the same call may succeed later (429, 5xx, connection refused).
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
        case .retryable: "retryable"
        case .unknown: "unknown"
        }
    }

    /// The channel's id for the charge, when it succeeded or when an unknown answer named one.
    public var reference: String? {
        switch self {
        case .succeeded(let reference): reference
        case .unknown(_, let reference): reference
        case .declined, .retryable: nil
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

    public var reason: Reason? {
        switch self {
        case .succeeded: nil
        case .declined(let reason), .retryable(let reason), .unknown(let reason, _): reason
        }
    }
}
