/// Why an order did not succeed: a stable machine-readable `code` and a human `message`.
///
/// Codes are part of the contract (result events, dead letters); messages may change.
public struct Reason: Sendable, Hashable, Codable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// Reason codes for events that are rejected before any charge.
public enum RejectionCode {
    public static let payloadTooLarge = "payload_too_large"
    public static let malformedJSON = "malformed_json"
    public static let notAnObject = "not_an_object"
    public static let missingField = "missing_field"
    public static let invalidType = "invalid_type"
    public static let invalidEventID = "invalid_event_id"
    public static let invalidOrderID = "invalid_order_id"
    public static let invalidPrice = "invalid_price"
    public static let unsupportedCurrency = "unsupported_currency"
    public static let invalidDiscount = "invalid_discount"
    public static let amountTooSmall = "amount_too_small"
    public static let unsupportedChannel = "unsupported_channel"
    public static let invalidPaymentMethod = "invalid_payment_method"
    public static let invalidField = "invalid_field"
    /// A string holding text Postgres cannot store or that is not Unicode: U+0000, or a `\u`
    /// escape of an unpaired UTF-16 surrogate. The message names the field, never the value.
    public static let invalidText = "invalid_text"
}
