/// What a channel says about a payment when asked by its idempotency reference, without
/// charging (used before a dead letter is replayed).
public enum PaymentLookup: Sendable, Equatable {
    /// The channel holds a successful charge for this payment.
    case paid(reference: String)
    /// The channel holds no successful charge: charging with the same key is safe.
    case notPaid
    /// The channel could not tell (unreachable, ambiguous): do not charge now.
    case unknown(Reason)
    /// The channel holds a successful charge under this payment's reference, but on other terms
    /// (`ReportedTerms`: another amount, currency or merchant): money moved, so it is not "not
    /// paid"; it is not the charge asked for, so it is not "paid". The resolver parks it for a
    /// person at once (`terms_mismatch`); the operator's replay of that letter accepts it.
    case paidOnOtherTerms(reference: String, Reason)
}
