import Testing
@testable import CashierCore

/// Text Postgres cannot store (U+0000) or that is not Unicode (unpaired surrogate escapes) is
/// rejected at decoding with `invalid_text`, naming the field and never repeating the value.
@Suite struct InvalidTextTests {
    func replacing(_ field: String, with json: String) -> String {
        var members: [(String, String)] = [
            ("event_id", #""evt_01""#), ("order_id", #""ord_1001""#), ("user_id", #""u_42""#), ("item_id", #""course_7""#),
            ("price", "10000"), ("currency", #""CNY""#), ("discount", #""0.10""#), ("channel", #""card""#),
            ("payment_method", #""pm_card_visa""#), ("created_at", #""2026-11-24T10:00:00Z""#),
        ]
        members = members.map { $0.0 == field ? (field, json) : $0 }
        return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    func rejection(_ text: String) -> OrderRejection? {
        do {
            _ = try OrderCreated.decode(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    static let stringFields = ["event_id", "order_id", "user_id", "item_id", "currency", "discount", "channel", "payment_method", "created_at"]

    @Test(arguments: stringFields)
    func aNULInAnyStringFieldIsInvalidTextNamingTheField(_ field: String) throws {
        let found = try #require(rejection(replacing(field, with: #""u\u0000x""#)))
        #expect(found.reason.code == RejectionCode.invalidText)
        #expect(found.reason.message.contains("\"\(field)\""), "\(found.reason.message)")
        #expect(!found.reason.message.unicodeScalars.contains("\u{0}"))
        #expect(!found.reason.message.contains("u\u{0}x") && !found.reason.message.contains(#"u\u0000x"#))
    }

    @Test(arguments: [
        ("user_id", #""\ud800""#),
        ("item_id", #""a\udc00b""#),
        ("user_id", #""\ud800\u0041""#),
        ("user_id", #""\udbff\ud800""#),
        ("created_at", #""x\ud83d""#),
    ])
    func anUnpairedSurrogateEscapeIsInvalidTextNamingTheField(_ field: String, _ json: String) throws {
        let found = try #require(rejection(replacing(field, with: json)))
        #expect(found.reason.code == RejectionCode.invalidText)
        #expect(found.reason.message.contains("\"\(field)\""), "\(found.reason.message)")
        let message = found.reason.message.lowercased()
        #expect(!message.contains(#"\ud8"#) && !message.contains(#"\udb"#) && !message.contains(#"\udc"#), "\(message)")
        #expect(!message.contains(json.dropFirst().dropLast().lowercased()))
    }

    @Test func aValidSurrogatePairIsStillAccepted() throws {
        let order = try OrderCreated.decode(Array(replacing("user_id", with: #""u_\ud83d\ude00""#).utf8))
        #expect(order.userID == "u_😀")
    }

    @Test func aSurrogateInANestedOrUnknownMemberNamesItsPath() throws {
        let text = replacing("created_at", with: #""2026-11-24T10:00:00Z","meta":{"tags":["ok","\udfff"]}"#)
        let found = try #require(rejection(text))
        #expect(found.reason.code == RejectionCode.invalidText)
        #expect(found.reason.message.contains(#""meta.tags[1]""#), "\(found.reason.message)")
    }

    @Test func aSurrogateInAMemberNameSaysSo() throws {
        let found = try #require(rejection(#"{"\ud800":1}"#))
        #expect(found.reason.code == RejectionCode.invalidText)
        #expect(found.reason.message.contains("member name"))
    }

    @Test(arguments: [("currency", #""C\u0000NY""#), ("channel", #""ca\u0000rd""#), ("discount", #""0.\u00001""#)])
    func aNULInsideAnEchoedValueIsNeverEchoed(_ field: String, _ json: String) throws {
        let found = try #require(rejection(replacing(field, with: json)))
        #expect(found.reason.code == RejectionCode.invalidText)
        #expect(!found.reason.message.unicodeScalars.contains("\u{0}"))
        #expect(found.orderID == "ord_1001", "read before the bad field")
    }

    @Test(arguments: [("currency", RejectionCode.unsupportedCurrency), ("channel", RejectionCode.unsupportedChannel), ("discount", RejectionCode.invalidDiscount)])
    func echoedValuesHaveTheirControlCharactersEscaped(_ field: String, _ code: String) throws {
        let found = try #require(rejection(replacing(field, with: #""\u001b[31m\n\u202eX\"""#)))
        #expect(found.reason.code == code)
        let message = found.reason.message
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 || $0 == "\u{202E}" }, "\(message)")
        #expect(message.contains(#"\u{1B}[31m\u{A}\u{202E}X\u{22}"#), "\(message)")
    }

    @Test func aHugeNumberIsEchoedShortened() throws {
        let found = try #require(rejection(replacing("price", with: "1" + String(repeating: "0", count: 5000))))
        #expect(found.reason.code == RejectionCode.invalidPrice)
        #expect(found.reason.message.count < 200)
    }

    @Test func aDuplicateMemberNameIsNamedSanitised() throws {
        let found = try #require(rejection(#"{"a\u0000b":1,"a\u0000b":2}"#))
        #expect(found.reason.code == RejectionCode.malformedJSON)
        #expect(!found.reason.message.unicodeScalars.contains("\u{0}"))
        #expect(found.reason.message.contains(#"a\u{0}b"#), "\(found.reason.message)")
    }

    @Test func theParserReportsInvalidTextWithItsPlace() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(#"["\ud800"]"#.utf8)) }
        do {
            _ = try JSONParser.parse(Array(#"{"a":{"b":["x","\ud800"]}}"#.utf8))
        } catch {
            #expect(error.kind == .invalidText)
            #expect(error.field == "a.b[1]")
            #expect(!error.inMemberName)
        }
        do {
            _ = try JSONParser.parse(Array(#"{"a":1,}"#.utf8))
        } catch {
            #expect(error.kind == .syntax)
        }
    }

    // MARK: Retry messages

    static let retry = RetryRequest(
        orderID: "ord_1", paymentID: "pay_1", attempts: 2, dueAtMilliseconds: 1_795_000_000_000,
        lastError: Reason(code: "service_unavailable", message: "503"), source: .init(topic: "orders.created", partition: 1, offset: 7))

    func retryFailure(_ text: String) -> RetryRequest.DecodingError? {
        do {
            _ = try RetryRequest.decode(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        (#""order_id":"ord_1""#, "order_id"), (#""payment_id":"pay_1""#, "payment_id"), (#""code":"service_unavailable""#, "last_error.code"),
        (#""message":"503""#, "last_error.message"), (#""topic":"orders.created""#, "source.topic"),
    ])
    func aRetryMessageWithNULIsInvalidTextNamingTheField(_ member: String, _ field: String) throws {
        let poisoned = member.replacingOccurrences(of: #"":""#, with: #"":"x\u0000"#)
        let text = Self.retry.json().replacingOccurrences(of: member, with: poisoned)
        #expect(text != Self.retry.json())
        let found = try #require(retryFailure(text))
        #expect(found.code == RejectionCode.invalidText)
        #expect(found.reason.code == RejectionCode.invalidText)
        #expect(found.description.contains(field), "\(found.description)")
        #expect(!found.description.unicodeScalars.contains("\u{0}"))
    }

    @Test func aRetryMessageWithAnUnpairedSurrogateIsInvalidText() throws {
        let text = Self.retry.json().replacingOccurrences(of: #""message":"503""#, with: #""message":"5\udc0003""#)
        let found = try #require(retryFailure(text))
        #expect(found.code == RejectionCode.invalidText)
        #expect(found.description.contains("last_error.message"), "\(found.description)")
        let paired = Self.retry.json().replacingOccurrences(of: #""message":"503""#, with: #""message":"\ud83d\ude00""#)
        #expect(try RetryRequest.decode(Array(paired.utf8)).lastError.message == "😀")
    }

    @Test func otherUnreadableRetryMessagesKeepTheirCode() {
        #expect(retryFailure("{}")?.code == RetryRequest.DecodingError.invalidRetryMessage)
        #expect(retryFailure("nope")?.code == RetryRequest.DecodingError.invalidRetryMessage)
    }
}
