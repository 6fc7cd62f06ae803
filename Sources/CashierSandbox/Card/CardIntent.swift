/// A payment intent the simulator executed (a charge attempt that reached "the bank").
public struct CardIntent: Sendable, Equatable {
    public let id: String
    public let idempotencyKey: String
    public let orderID: String
    public let amount: Int64
    public let currency: String
    public let paymentMethod: String
    /// `succeeded` or `requires_payment_method` (declined).
    public let status: String
    public let createdAtMilliseconds: Int64
}

/// An answer the simulator saved for an idempotency key and replays for the same key.
struct SavedAnswer: Sendable {
    let status: Int
    let body: String
}
