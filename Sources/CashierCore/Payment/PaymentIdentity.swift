/// Identifiers derived deterministically from an order, so every pod, attempt and replay
/// computes the same ones without coordination (DESIGN.md invariant 1).
public enum PaymentIdentity {
    /// The payment's id: `pay_` and 24 hex digits of SHA-256 over the order id.
    public static func paymentID(orderID: String) -> String {
        "pay_" + digest("cashier/payment/v1/\(orderID)", hexDigits: 24)
    }

    /// The idempotency key sent to the channel: 32 characters of `[a-z0-9]`, which fits every
    /// channel's rules (Stripe ≤255, Alipay `out_trade_no` ≤64 of letters/digits/_, WeChat ≤32).
    ///
    /// `generation` is 0 for every automatic attempt and replay; only an operator's explicit
    /// request for a fresh attempt raises it, which is the one way to get a new key.
    public static func idempotencyKey(orderID: String, generation: Int = 0) -> String {
        "ck" + digest("cashier/idempotency/v1/\(orderID)/\(generation)", hexDigits: 30)
    }

    /// The `event_id` of an order's result event: the same for every republication.
    public static func resultEventID(paymentID: String, status: String) -> String {
        "res_" + digest("cashier/result/v1/\(paymentID)/\(status)", hexDigits: 24)
    }

    /// The `event_id` of the result for a rejected event (one per consumed record).
    public static func rejectionEventID(_ origin: EventOrigin) -> String {
        "res_" + digest("cashier/rejection/v1/\(origin.topic)/\(origin.partition)/\(origin.offset)/\(origin.digest)", hexDigits: 24)
    }

    /// The id of the dead-letter message published for a consumed record.
    public static func deadLetterEventID(_ origin: EventOrigin) -> String {
        "dlq_" + digest("cashier/dead-letter/v1/\(origin.topic)/\(origin.partition)/\(origin.offset)/\(origin.digest)", hexDigits: 24)
    }

    static func digest(_ text: String, hexDigits: Int) -> String {
        String(SHA256Hex.of(text.utf8).prefix(hexDigits))
    }
}
