/// A `payments.dlq` message (Contracts/schemas/dead-letter.schema.json): one shape for every
/// cause, the fields a cause does not know left out.
///
/// | cause (`reason.code`) | order | payment, channel, attempts | last_error | event |
/// |---|---|---|---|---|
/// | `retries_exhausted`, `outcome_unknown`, `terms_mismatch` | yes | yes | yes | the accepted order |
/// | `channel_contradiction` | yes | yes | – | – |
/// | `order_conflict` | yes | – | – | the conflicting order, when it could be read |
/// | `storage_error` | the order's, when the record decoded as a valid order; else `null` | – | – | – |
/// | `invalid_retry_message`, `invalid_text` | `null` | – | – | – |
///
/// Built in Swift once the dead-letter row exists (its id is `dead_letter_id`) and written to
/// the outbox in the same transaction as the row.
public struct DeadLetterEvent: Sendable, Equatable, Codable {
    public var deadLetterID: Int64
    /// Null when no order could be identified (an unreadable record or message).
    public var orderID: String?
    public var paymentID: String?
    public var channel: Channel?
    /// Channel calls made for the payment, the first included.
    public var attempts: Int?
    public var reason: Reason
    /// The channel's last answer, for a payment that ran out of attempts or time.
    public var lastError: Reason?
    /// The order event (or message) that led here.
    public var source: ResultEvent.Source
    public var event: OrderCreated?

    public init(
        deadLetterID: Int64, orderID: String?, paymentID: String? = nil, channel: Channel? = nil, attempts: Int? = nil,
        reason: Reason, lastError: Reason? = nil, source: ResultEvent.Source, event: OrderCreated? = nil
    ) {
        self.deadLetterID = deadLetterID
        self.orderID = orderID
        self.paymentID = paymentID
        self.channel = channel
        self.attempts = attempts
        self.reason = reason
        self.lastError = lastError
        self.source = source
        self.event = event
    }

    enum CodingKeys: String, CodingKey {
        case deadLetterID = "dead_letter_id", orderID = "order_id", paymentID = "payment_id", channel, attempts, reason
        case lastError = "last_error", source, event
    }

    /// `order_id` is always written (`null` when unknown); the optional members only when known.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deadLetterID, forKey: .deadLetterID)
        try container.encode(orderID, forKey: .orderID)
        try container.encodeIfPresent(paymentID, forKey: .paymentID)
        try container.encodeIfPresent(channel, forKey: .channel)
        try container.encodeIfPresent(attempts, forKey: .attempts)
        try container.encode(reason, forKey: .reason)
        try container.encodeIfPresent(lastError, forKey: .lastError)
        try container.encode(source, forKey: .source)
        try container.encodeIfPresent(event, forKey: .event)
    }

    /// The message's JSON text (`EventJSON`).
    public func json() -> String { EventJSON.text(self) }
}
