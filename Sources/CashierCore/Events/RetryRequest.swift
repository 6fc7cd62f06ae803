/// A message on the retry topic: which payment to try again, and when.
///
/// Self-contained (the order's chargeable fields travel with it) so the retry worker can act
/// even before it reads Postgres, and the due time lives in the message, never only in memory.
public struct RetryRequest: Sendable, Equatable {
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

    public func json() -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("order_id", orderID)
        writer.member("payment_id", paymentID)
        writer.member("attempts", Int64(attempts))
        writer.member("due_at_ms", dueAtMilliseconds)
        writer.member("last_error", lastError)
        writer.member("source", source)
        writer.endObject()
        return writer.text
    }

    public struct DecodingError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodingError) -> RetryRequest {
        let document: JSONValue
        do { document = try JSONParser.parse(bytes) } catch { throw DecodingError(description: "retry message is not JSON: \(error)") }
        func string(_ value: JSONValue?, _ name: String) throws(DecodingError) -> String {
            guard case .string(let text)? = value else { throw DecodingError(description: "retry message lacks string \(name)") }
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
        return RetryRequest(
            orderID: try string(document["order_id"], "order_id"),
            paymentID: try string(document["payment_id"], "payment_id"),
            attempts: Int(try integer(document["attempts"], "attempts")),
            dueAtMilliseconds: try integer(document["due_at_ms"], "due_at_ms"),
            lastError: Reason(code: try string(error?["code"], "last_error.code"), message: try string(error?["message"], "last_error.message")),
            source: ResultEvent.Source(
                topic: try string(source?["topic"], "source.topic"),
                partition: Int32(truncatingIfNeeded: try integer(source?["partition"], "source.partition")),
                offset: try integer(source?["offset"], "source.offset")))
    }
}
