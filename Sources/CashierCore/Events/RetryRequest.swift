/// A message on the retry topic: which payment to try again, and when.
///
/// Self-contained (the order's chargeable fields travel with it) so the retry worker can act
/// even before it reads Postgres, and the due time lives in the message, never only in memory.
public struct RetryRequest: Sendable, Equatable, Codable {
    public var orderID: String
    public var paymentID: String
    /// Channel calls made so far, the first included.
    public var attempts: Int
    /// When the next attempt may start, in milliseconds since the epoch.
    public var dueAtMilliseconds: Int64
    public var lastError: Reason
    public var source: ResultEvent.Source

    public init(orderID: String, paymentID: String, attempts: Int, dueAtMilliseconds: Int64, lastError: Reason, source: ResultEvent.Source) {
        self.orderID = orderID
        self.paymentID = paymentID
        self.attempts = attempts
        self.dueAtMilliseconds = dueAtMilliseconds
        self.lastError = lastError
        self.source = source
    }

    /// The message's JSON text (`EventJSON`). Read back with `decode(_:)`, the strict parser.
    public func json() -> String { EventJSON.text(self) }

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id", paymentID = "payment_id", attempts, dueAtMilliseconds = "due_at_ms", lastError = "last_error", source
    }

    /// Why a retry message cannot be read. `code` is `invalid_text` for a string Postgres cannot
    /// store (U+0000) or that is not Unicode (an unpaired surrogate escape), else
    /// `invalid_retry_message`; `description` names the field, never its value.
    public struct DecodingError: Error, Equatable, CustomStringConvertible {
        public static let invalidRetryMessage = "invalid_retry_message"

        public let code: String
        public let description: String

        public init(code: String = DecodingError.invalidRetryMessage, description: String) {
            self.code = code
            self.description = description
        }

        /// The reason to record when the message is dead-lettered.
        public var reason: Reason { Reason(code: code, message: description) }
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodingError) -> RetryRequest {
        let document: JSONValue
        do throws(JSONParser.Failure) {
            document = try JSONParser.parse(bytes)
        } catch where error.kind == .invalidText {
            throw DecodingError(code: RejectionCode.invalidText, description: "retry message: " + InvalidText.unpairedSurrogate(error))
        } catch {
            throw DecodingError(description: "retry message is not JSON: \(error)")
        }
        func string(_ value: JSONValue?, _ name: String) throws(DecodingError) -> String {
            guard case .string(let text)? = value else { throw DecodingError(description: "retry message lacks string \(name)") }
            guard !text.containsNUL else { throw DecodingError(code: RejectionCode.invalidText, description: "retry message: " + InvalidText.nul(field: name)) }
            return text
        }
        func integer(_ value: JSONValue?, _ name: String) throws(DecodingError) -> Int64 {
            guard case .number(let text)? = value, let number = Int64(text) else {
                throw DecodingError(description: "retry message lacks integer \(name)")
            }
            return number
        }
        let error = document["last_error"]
        let source = document["source"]
        // A due time Postgres cannot hold as a timestamp (22008) would fail its batch for ever:
        // from the epoch to the year 9999 is far more than any schedule needs.
        let due = try integer(document["due_at_ms"], "due_at_ms")
        guard (0...253_402_300_799_000).contains(due) else {
            throw DecodingError(description: "retry message: due_at_ms \(due) is not a time between 1970 and 9999")
        }
        return RetryRequest(
            orderID: try string(document["order_id"], "order_id"),
            paymentID: try string(document["payment_id"], "payment_id"),
            attempts: Int(try integer(document["attempts"], "attempts")),
            dueAtMilliseconds: due,
            lastError: Reason(code: try string(error?["code"], "last_error.code"), message: try string(error?["message"], "last_error.message")),
            source: ResultEvent.Source(
                topic: try string(source?["topic"], "source.topic"),
                partition: Int32(truncatingIfNeeded: try integer(source?["partition"], "source.partition")),
                offset: try integer(source?["offset"], "source.offset")))
    }
}
