/// A `payments.results` event (DESIGN.md section 3).
///
/// Encoded once, when the outcome is recorded; the bytes are stored in the outbox and every
/// republication sends them unchanged ("a repeated result event carries the same content").
public struct ResultEvent: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        case succeeded, failed, rejected
    }

    /// Where an unparseable event came from, so it can be found without an order id.
    public struct Source: Sendable, Equatable, Codable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64

        public init(topic: String, partition: Int32, offset: Int64) {
            self.topic = topic
            self.partition = partition
            self.offset = offset
        }
    }

    public var eventID: String
    public var orderID: String?
    public var paymentID: String?
    public var status: Status
    public var amount: Int64?
    public var currency: String?
    public var channel: String?
    public var channelReference: String?
    public var attempts: Int
    public var reason: Reason?
    public var occurredAt: String
    public var source: Source?

    public init(
        eventID: String, orderID: String?, paymentID: String?, status: Status, amount: Int64?,
        currency: String?, channel: String?, channelReference: String?, attempts: Int, reason: Reason?,
        occurredAt: String, source: Source? = nil
    ) {
        self.eventID = eventID
        self.orderID = orderID
        self.paymentID = paymentID
        self.status = status
        self.amount = amount
        self.currency = currency
        self.channel = channel
        self.channelReference = channelReference
        self.attempts = attempts
        self.reason = reason
        self.occurredAt = occurredAt
        self.source = source
    }

    /// The event's JSON text: keys sorted, so the same event is the same bytes. Written by
    /// hand (`JSONObjectText`), byte for byte what `EventJSON.text(self)` writes, since every
    /// order makes one; the members go in key order.
    public func json() -> String {
        var json = JSONObjectText()
        json.member("amount", amount)
        json.member("attempts", attempts)
        json.member("channel", channel)
        json.member("channel_reference", channelReference)
        json.member("currency", currency)
        json.member("event_id", eventID)
        json.member("occurred_at", occurredAt)
        json.member("order_id", orderID)
        json.member("payment_id", paymentID)
        json.member("reason", object: reason.map { reason in
            var object = JSONObjectText()
            object.member("code", reason.code)
            object.member("message", reason.message)
            return object
        })
        if let source {
            var object = JSONObjectText()
            object.member("offset", source.offset)
            object.member("partition", source.partition)
            object.member("topic", source.topic)
            json.member("source", object: object)
        }
        json.member("status", status.rawValue)
        return json.finished()
    }
}

extension ResultEvent: Codable {
    enum CodingKeys: String, CodingKey {
        case eventID = "event_id", orderID = "order_id", paymentID = "payment_id", status, amount, currency, channel
        case channelReference = "channel_reference", attempts, reason, occurredAt = "occurred_at", source
    }

    /// Every member the contract requires is written, `null` when absent; `source` only when
    /// the event could not be tied to an order.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(orderID, forKey: .orderID)
        try container.encode(paymentID, forKey: .paymentID)
        try container.encode(status, forKey: .status)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
        try container.encode(channel, forKey: .channel)
        try container.encode(channelReference, forKey: .channelReference)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(reason, forKey: .reason)
        try container.encode(occurredAt, forKey: .occurredAt)
        try container.encodeIfPresent(source, forKey: .source)
    }
}
