extension OrderCreated: Codable {
    enum CodingKeys: String, CodingKey {
        case eventID = "event_id", orderID = "order_id", userID = "user_id", itemID = "item_id", price, currency, discount, channel
        case paymentMethod = "payment_method", createdAt = "created_at"
    }

    /// The event as an upstream service would publish it (used by `cashier publish`, tests and
    /// the `event` of a dead letter): `discount` as decimal text, `created_at` null when absent.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(orderID, forKey: .orderID)
        try container.encode(userID, forKey: .userID)
        try container.encode(itemID, forKey: .itemID)
        try container.encode(price, forKey: .price)
        try container.encode(currency.code, forKey: .currency)
        try container.encode(discount.description, forKey: .discount)
        try container.encode(channel, forKey: .channel)
        try container.encode(paymentMethod, forKey: .paymentMethod)
        try container.encode(createdAt, forKey: .createdAt)
    }

    /// Reads an event this type wrote (a dead letter's `event`, a test's capture). The worker
    /// does not use it: orders arrive through `decode(_:)`, which rejects with a reason code.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let code = try container.decode(String.self, forKey: .currency)
        guard let currency = Currency(code: code) else {
            throw DecodingError.dataCorruptedError(forKey: .currency, in: container, debugDescription: "unsupported currency")
        }
        let discountText = try container.decodeIfPresent(String.self, forKey: .discount) ?? "0"
        guard let discount = try? DiscountRatio(parsing: discountText) else {
            throw DecodingError.dataCorruptedError(forKey: .discount, in: container, debugDescription: "invalid discount")
        }
        self.init(
            eventID: try container.decode(String.self, forKey: .eventID), orderID: try container.decode(String.self, forKey: .orderID),
            userID: try container.decode(String.self, forKey: .userID), itemID: try container.decode(String.self, forKey: .itemID),
            price: try container.decode(Int64.self, forKey: .price), currency: currency, discount: discount,
            channel: try container.decode(Channel.self, forKey: .channel),
            paymentMethod: try container.decode(String.self, forKey: .paymentMethod),
            createdAt: try container.decodeIfPresent(String.self, forKey: .createdAt))
    }

    /// The event's JSON text (`EventJSON`).
    public func json() -> String { EventJSON.text(self) }
}
