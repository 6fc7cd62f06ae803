/// An event that cannot be charged: the reason, and whatever identity could still be read so
/// the `rejected` result can name the order.
public struct OrderRejection: Error, Sendable, Equatable {
    public let reason: Reason
    public let eventID: String?
    public let orderID: String?

    /// The fate fingerprint of an order decided by an invalid event: the event's digest (hex
    /// SHA-256 of its bytes), so only the same bytes again are a duplicate; never equal to a
    /// valid order's fingerprint (`OrderCreated.fingerprint`), so a valid event of that order
    /// is a conflict.
    public static func fingerprint(digest: String) -> String { fingerprintPrefix + digest }

    /// What every such fingerprint starts with, followed by the digest (SQL builds it from an
    /// inbox row's `source_digest`).
    public static let fingerprintPrefix = "invalid:"
}

extension OrderCreated {
    /// Events larger than this are rejected without being parsed (DESIGN.md section 3).
    public static let maxEventBytes = 64 * 1024

    /// Decodes and validates one `order.created` value. Every failure is a rejection with a
    /// reason code and a message that names the field and what a valid value looks like.
    /// A string Postgres `text` cannot store (U+0000) or that is not Unicode (a `\u` escape of
    /// an unpaired UTF-16 surrogate) is `invalid_text`, so such an event is rejected here rather
    /// than failing its insert for ever (DESIGN.md section 6). Messages repeat input values only
    /// sanitised (`String.echoed(limit:)`).
    public static func decode(_ bytes: some Collection<UInt8>) throws(OrderRejection) -> OrderCreated {
        guard bytes.count <= maxEventBytes else {
            throw OrderRejection(
                reason: Reason(
                    code: RejectionCode.payloadTooLarge,
                    message: "event is \(bytes.count) bytes; the limit is \(maxEventBytes) bytes"),
                eventID: nil, orderID: nil)
        }
        let document: JSONValue
        do throws(JSONParser.Failure) {
            document = try JSONParser.parse(bytes)
        } catch where error.kind == .invalidText {
            throw OrderRejection(reason: Reason(code: RejectionCode.invalidText, message: InvalidText.unpairedSurrogate(error)), eventID: nil, orderID: nil)
        } catch {
            throw OrderRejection(
                reason: Reason(code: RejectionCode.malformedJSON, message: "event is not valid JSON: \(error)"),
                eventID: nil, orderID: nil)
        }
        guard case .object = document else {
            throw OrderRejection(
                reason: Reason(code: RejectionCode.notAnObject, message: "event must be a JSON object, got \(document.kindName)"),
                eventID: nil, orderID: nil)
        }
        var fields = FieldReader(document: document)
        return try fields.order()
    }
}

/// Reads and validates the members of an event object, remembering the identity fields it
/// has already read so a rejection can carry them.
private struct FieldReader {
    let document: JSONValue
    var eventID: String?
    var orderID: String?

    private static let idCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".utf8)

    mutating func order() throws(OrderRejection) -> OrderCreated {
        // Identity first, so every later rejection can name the order.
        orderID = try identifier("order_id", code: RejectionCode.invalidOrderID)
        eventID = try identifier("event_id", code: RejectionCode.invalidEventID)
        let userID = try text("user_id", maxLength: 128)
        let itemID = try text("item_id", maxLength: 128)
        let price = try price()
        let currency = try currency()
        let discount = try discount()
        let channel = try channel()
        let paymentMethod = try paymentMethod()
        let createdAt = try optionalText("created_at", maxLength: 64)
        let order = OrderCreated(
            eventID: eventID!, orderID: orderID!, userID: userID, itemID: itemID, price: price,
            currency: currency, discount: discount, channel: channel, paymentMethod: paymentMethod,
            createdAt: createdAt)
        guard order.amount >= 1 else {
            throw reject(
                RejectionCode.amountTooSmall,
                "price \(price) with discount \(discount) rounds to \(order.amount) \(currency.code) minor units; the amount must be at least 1")
        }
        return order
    }

    private func reject(_ code: String, _ message: String) -> OrderRejection {
        OrderRejection(reason: Reason(code: code, message: message), eventID: eventID, orderID: orderID)
    }

    private func required(_ name: String) throws(OrderRejection) -> JSONValue {
        guard let value = document[name], value != .null else {
            throw reject(RejectionCode.missingField, "required field \"\(name)\" is missing")
        }
        return value
    }

    private func string(_ name: String) throws(OrderRejection) -> String {
        let value = try required(name)
        guard case .string(let text) = value else {
            throw reject(RejectionCode.invalidType, "field \"\(name)\" must be a string, got \(value.kindName)")
        }
        try storable(text, name)
        return text
    }

    /// Refuses text Postgres cannot store, before any other check can repeat it.
    private func storable(_ text: String, _ name: String) throws(OrderRejection) {
        guard !text.containsNUL else { throw reject(RejectionCode.invalidText, InvalidText.nul(field: name)) }
    }

    private func identifier(_ name: String, code: String) throws(OrderRejection) -> String {
        let text = try string(name)
        guard (1...64).contains(text.utf8.count), text.utf8.allSatisfy({ Self.idCharacters.contains($0) }) else {
            throw reject(code, "field \"\(name)\" must be 1-64 characters of A-Z a-z 0-9 _ -")
        }
        return text
    }

    private func text(_ name: String, maxLength: Int) throws(OrderRejection) -> String {
        let text = try string(name)
        guard !text.isEmpty, text.utf8.count <= maxLength else {
            throw reject(RejectionCode.invalidField, "field \"\(name)\" must be 1-\(maxLength) bytes of text")
        }
        return text
    }

    private func optionalText(_ name: String, maxLength: Int) throws(OrderRejection) -> String? {
        guard let value = document[name], value != .null else { return nil }
        return try text(name, maxLength: maxLength)
    }

    private func price() throws(OrderRejection) -> Int64 {
        let value = try required("price")
        guard case .number(let text) = value else {
            throw reject(RejectionCode.invalidType, "field \"price\" must be an integer number of minor units, got \(value.kindName)")
        }
        guard let price = Int64(text), price >= 1, price <= Pricing.maxPrice else {
            throw reject(
                RejectionCode.invalidPrice, "field \"price\" must be an integer from 1 to \(Pricing.maxPrice) minor units, got \(text.echoed(limit: 32))")
        }
        return price
    }

    private func currency() throws(OrderRejection) -> Currency {
        let code = try string("currency")
        guard let currency = Currency(code: code) else {
            let known = Currency.supported.map(\.code).joined(separator: ", ")
            throw reject(RejectionCode.unsupportedCurrency, "currency \"\(code.echoed(limit: 16))\" is not supported; use one of \(known)")
        }
        return currency
    }

    private func discount() throws(OrderRejection) -> DiscountRatio {
        let text: String
        switch document["discount"] {
        case nil, .null?: return .zero
        case .string(let value)?:
            try storable(value, "discount")
            text = value
        case .number(let value)?: text = value
        case let other?:
            throw reject(RejectionCode.invalidType, "field \"discount\" must be a decimal string such as \"0.10\", got \(other.kindName)")
        }
        do {
            return try DiscountRatio(parsing: text)
        } catch {
            throw reject(
                RejectionCode.invalidDiscount,
                "field \"discount\" must be a decimal ratio from 0 up to (not including) 1 with at most \(DiscountRatio.maxScale) decimals, such as \"0.10\"; got \"\(text.echoed(limit: 32))\"")
        }
    }

    private func channel() throws(OrderRejection) -> Channel {
        let name = try string("channel")
        guard let channel = Channel(rawValue: name) else {
            throw reject(RejectionCode.unsupportedChannel, "channel \"\(name.echoed(limit: 16))\" is not supported; use card, alipay or wechat")
        }
        return channel
    }

    private func paymentMethod() throws(OrderRejection) -> String {
        let text = try string("payment_method")
        guard (1...128).contains(text.utf8.count), text.utf8.allSatisfy({ Self.idCharacters.contains($0) }) else {
            throw reject(RejectionCode.invalidPaymentMethod, "field \"payment_method\" must be 1-128 characters of A-Z a-z 0-9 _ -")
        }
        return text
    }
}
