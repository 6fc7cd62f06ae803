/// What a channel says about a payment when asked by its idempotency reference, without
/// charging (used before a dead letter is replayed).
public enum PaymentLookup: Sendable, Equatable {
    /// The channel holds a successful charge for this payment.
    case paid(reference: String)
    /// The channel holds no successful charge: charging with the same key is safe.
    case notPaid
    /// The channel could not tell (unreachable, ambiguous): do not charge now.
    case unknown(Reason)
}
