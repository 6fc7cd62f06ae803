extension OrderCreated {
    /// The event as an upstream service would publish it (used by `cashier publish` and tests).
    public func json() -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("event_id", eventID)
        writer.member("order_id", orderID)
        writer.member("user_id", userID)
        writer.member("item_id", itemID)
        writer.member("price", price)
        writer.member("currency", currency.code)
        writer.member("discount", discount.description)
        writer.member("channel", channel.rawValue)
        writer.member("payment_method", paymentMethod)
        writer.member("created_at", createdAt)
        writer.endObject()
        return writer.text
    }
}
