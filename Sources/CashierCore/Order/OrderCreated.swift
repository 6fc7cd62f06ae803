/// A validated `order.created` event (DESIGN.md section 3), with its amount already priced.
public struct OrderCreated: Sendable, Hashable {
    public var eventID: String
    public var orderID: String
    public var userID: String
    public var itemID: String
    public var price: Int64
    public var currency: Currency
    public var discount: DiscountRatio
    public var channel: Channel
    public var paymentMethod: String
    /// As sent by the upstream service (RFC 3339 text); kept for the record, not interpreted.
    public var createdAt: String?

    /// What the buyer pays, in minor units: `Pricing.amount(price:discount:)`, always ≥ 1.
    public var amount: Int64 { Pricing.amount(price: price, discount: discount) }

    /// The fields whose difference turns a second event for the same order into a conflict.
    ///
    /// `event_id`, ids of user and item and timestamps are deliberately absent: an identical
    /// order re-sent under another event id is a duplicate, not a new charge.
    public var fingerprint: String {
        "\(price)|\(currency.code)|\(discount)|\(channel.rawValue)|\(paymentMethod)"
    }

    public init(
        eventID: String, orderID: String, userID: String, itemID: String, price: Int64,
        currency: Currency, discount: DiscountRatio = .zero, channel: Channel, paymentMethod: String,
        createdAt: String? = nil
    ) {
        self.eventID = eventID
        self.orderID = orderID
        self.userID = userID
        self.itemID = itemID
        self.price = price
        self.currency = currency
        self.discount = discount
        self.channel = channel
        self.paymentMethod = paymentMethod
        self.createdAt = createdAt
    }
}
