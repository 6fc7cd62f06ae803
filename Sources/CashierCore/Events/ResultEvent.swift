/// A `payments.results` event (DESIGN.md section 3).
///
/// Encoded once, when the outcome is recorded; the bytes are stored in the outbox and every
/// republication sends them unchanged ("a repeated result event carries the same content").
public struct ResultEvent: Sendable, Equatable {
    public enum Status: String, Sendable {
        case succeeded, failed, rejected
    }

    /// Where an unparseable event came from, so it can be found without an order id.
    public struct Source: Sendable, Equatable {
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

    /// The compact JSON value, members in the contract's order.
    public func json() -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("event_id", eventID)
        writer.member("order_id", orderID)
        writer.member("payment_id", paymentID)
        writer.member("status", status.rawValue)
        writer.member("amount", amount)
        writer.member("currency", currency)
        writer.member("channel", channel)
        writer.member("channel_reference", channelReference)
        writer.member("attempts", Int64(attempts))
        writer.member("reason", reason)
        writer.member("occurred_at", occurredAt)
        if let source { writer.member("source", source) }
        writer.endObject()
        return writer.text
    }
}
