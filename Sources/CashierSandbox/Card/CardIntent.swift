/// A payment intent the simulator executed (a charge attempt that reached "the bank").
public struct CardIntent: Sendable, Equatable {
    public let id: String
    public let idempotencyKey: String
    public let orderID: String
    public let amount: Int64
    public let currency: String
    public let paymentMethod: String
    /// `succeeded`, `requires_payment_method` (declined) or `processing` (completes at
    /// `completesAtMilliseconds`), as of when the simulator handed the intent out.
    public let status: String
    public let createdAtMilliseconds: Int64
    /// When a `processing` intent becomes `succeeded`; nil for an intent that never processes.
    public let completesAtMilliseconds: Int64?

    /// The intent as it stands at `now` (Unix milliseconds): a processing one that is due has
    /// succeeded.
    func current(at now: Int64) -> CardIntent {
        guard status == "processing", let completesAtMilliseconds, now >= completesAtMilliseconds else { return self }
        return CardIntent(
            id: id, idempotencyKey: idempotencyKey, orderID: orderID, amount: amount, currency: currency, paymentMethod: paymentMethod,
            status: "succeeded", createdAtMilliseconds: createdAtMilliseconds, completesAtMilliseconds: completesAtMilliseconds)
    }
}

/// An answer the simulator saved for an idempotency key and replays for the same key.
struct SavedAnswer: Sendable {
    let status: Int
    let body: String
}
