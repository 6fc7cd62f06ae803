import Foundation
import PropertyBased
import Testing
@testable import CashierCore

@Suite struct EventEncodingTests {
    @Test func resultEventHasTheContractFieldsWithSortedKeys() {
        let event = ResultEvent(
            eventID: "res_1", orderID: "ord_1001", paymentID: "pay_1", status: .succeeded, amount: 9000, currency: "CNY",
            channel: "card", channelReference: "pi_1", attempts: 1, reason: nil, occurredAt: "2026-11-24T10:00:00.000Z")
        #expect(event.json() == #"{"amount":9000,"attempts":1,"channel":"card","channel_reference":"pi_1","currency":"CNY","event_id":"res_1","occurred_at":"2026-11-24T10:00:00.000Z","order_id":"ord_1001","payment_id":"pay_1","reason":null,"status":"succeeded"}"#)
    }

    @Test func rejectionOfAnUnparseableEventNamesItsSource() throws {
        let event = ResultEvent(
            eventID: "res_2", orderID: nil, paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
            channelReference: nil, attempts: 0, reason: Reason(code: "malformed_json", message: "bad \"quote\"\n"),
            occurredAt: "t", source: .init(topic: "orders.created", partition: 3, offset: 42))
        let parsed = try JSONParser.parse(Array(event.json().utf8))
        #expect(parsed["order_id"] == .null)
        #expect(parsed["reason"]?["message"] == .string("bad \"quote\"\n"))
        #expect(parsed["source"]?["offset"] == .number("42"))
    }

    /// `ResultEvent.json()` is written by hand for speed; it must stay what Foundation's
    /// `JSONEncoder` writes (`EventJSON`), byte for byte, for any text in any member.
    @Test func resultEventTextIsWhatJSONEncoderWrites() async {
        let scalars = (0...0x7F).map { Unicode.Scalar(UInt8($0)) } + ["é", "\u{301}", "\u{2028}", "\u{2029}", "\u{FEFF}", "中", "😀", "\u{FFFD}"]
        let text = Gen.element(of: scalars).array(of: 0...12).map { String(String.UnicodeScalarView($0.compactMap { $0 })) }
        let events = zip(text, text.optional(), Gen.int(in: 0...3), Gen<Int64>.value(in: -5...Int64.max).optional()).map { text, other, shape, number in
            ResultEvent(
                eventID: text, orderID: other, paymentID: shape == 0 ? nil : text, status: [.succeeded, .failed, .rejected][shape % 3],
                amount: number, currency: other, channel: text, channelReference: other, attempts: shape,
                reason: shape == 1 ? nil : Reason(code: other ?? "", message: text), occurredAt: text,
                source: shape == 2 ? .init(topic: text, partition: Int32(shape), offset: number ?? 0) : nil)
        }
        await propertyCheck(count: 2000, input: events) { event in
            #expect(event.json() == EventJSON.text(event))
        }
    }

    @Test func retryRequestRoundTrips() throws {
        let request = RetryRequest(
            orderID: "ord_1", paymentID: "pay_1", attempts: 2, dueAtMilliseconds: 1_795_000_000_000,
            lastError: Reason(code: "service_unavailable", message: "503"), source: .init(topic: "orders.created", partition: 1, offset: 7))
        #expect(try RetryRequest.decode(Array(request.json().utf8)) == request)
    }

    @Test func aRetryMessageDueAtATimePostgresCannotHoldIsRefused() {
        for due: Int64 in [-1, 253_402_300_800_000, .max] {
            var request = RetryRequest(
                orderID: "ord_1", paymentID: "pay_1", attempts: 2, dueAtMilliseconds: 0,
                lastError: Reason(code: "x", message: "y"), source: .init(topic: "orders.created", partition: 1, offset: 7))
            request.dueAtMilliseconds = due
            #expect(throws: (any Error).self) { try RetryRequest.decode(Array(request.json().utf8)) }
        }
    }

    @Test func timestampsAreRFC3339UTC() {
        #expect(Timestamp.rfc3339(millisecondsSinceEpoch: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.rfc3339(millisecondsSinceEpoch: 1_795_514_400_123) == "2026-11-24T10:00:00.123Z")
        #expect(Timestamp.rfc3339(millisecondsSinceEpoch: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
    }

    @Test func parserKeepsNumberTextAndHandlesEscapes() throws {
        let value = try JSONParser.parse(Array(#"{"a":0.10,"b":"\u00e9\ud83d\ude00","c":[true,false,null],"d":-1.5e3}"#.utf8))
        #expect(value["a"] == .number("0.10"))
        #expect(value["b"] == .string("é😀"))
        #expect(value["c"] == .array([.bool(true), .bool(false), .null]))
        #expect(value["d"] == .number("-1.5e3"))
    }

    @Test(arguments: ["", "{", "01", "1.", "[1,]", #"{"a":1,}"#, "tru", #""\x""#, "\"a\u{01}\"", "{} {}"])
    func parserRejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(text.utf8)) }
    }
}
