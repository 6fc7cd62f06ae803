import Testing
@testable import CashierCore

@Suite struct OrderDecodingTests {
    static let valid = #"{"event_id": "evt_01", "order_id": "ord_1001", "user_id": "u_42", "item_id": "course_7", "price": 10000, "currency": "CNY", "discount": "0.10", "channel": "card", "payment_method": "pm_card_visa", "created_at": "2026-11-24T10:00:00Z"}"#

    func decode(_ text: String) throws(OrderRejection) -> OrderCreated {
        try OrderCreated.decode(Array(text.utf8))
    }

    func rejection(_ text: String) -> OrderRejection? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error
        }
    }

    func replacing(_ field: String, with json: String?) -> String {
        // Rebuilds the valid event with one member replaced (or removed when json is nil).
        var members: [(String, String)] = [
            ("event_id", #""evt_01""#), ("order_id", #""ord_1001""#), ("user_id", #""u_42""#), ("item_id", #""course_7""#),
            ("price", "10000"), ("currency", #""CNY""#), ("discount", #""0.10""#), ("channel", #""card""#),
            ("payment_method", #""pm_card_visa""#), ("created_at", #""2026-11-24T10:00:00Z""#),
        ]
        members = members.compactMap { $0.0 == field ? json.map { (field, $0) } : $0 }
        return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    @Test func decodesTheContractExample() throws {
        let order = try decode(Self.valid)
        #expect(order.orderID == "ord_1001")
        #expect(order.eventID == "evt_01")
        #expect(order.price == 10000)
        #expect(order.currency == .cny)
        #expect(order.amount == 9000)
        #expect(order.channel == .card)
        #expect(order.paymentMethod == "pm_card_visa")
    }

    @Test func readsADiscountGivenAsAJSONNumberAsExactDecimalText() throws {
        let order = try decode(replacing("discount", with: "0.1"))
        #expect(order.amount == 9000)
        #expect(try decode(replacing("discount", with: "0.30000000000000004")).discount.description == "0.30000000000000004")
    }

    @Test func defaultsAMissingDiscountToZero() throws {
        #expect(try decode(replacing("discount", with: nil)).amount == 10000)
        #expect(try decode(replacing("discount", with: "null")).amount == 10000)
    }

    @Test(arguments: [
        ("not JSON at all", RejectionCode.malformedJSON),
        (#"{"order_id":"ord_1","price":10"#, RejectionCode.malformedJSON),
        ("[1,2]", RejectionCode.notAnObject),
        (#""just a string""#, RejectionCode.notAnObject),
        (#"{"order_id":"a","order_id":"b"}"#, RejectionCode.malformedJSON),
        ("{}", RejectionCode.missingField),
    ])
    func rejectsDocumentsThatAreNotEvents(_ text: String, _ code: String) {
        #expect(rejection(text)?.reason.code == code)
    }

    @Test(arguments: [
        ("order_id", nil, RejectionCode.missingField),
        ("order_id", #""bad id!""#, RejectionCode.invalidOrderID),
        ("order_id", #""""#, RejectionCode.invalidOrderID),
        ("order_id", "\"" + String(repeating: "a", count: 65) + "\"", RejectionCode.invalidOrderID),
        ("order_id", "42", RejectionCode.invalidType),
        ("event_id", nil, RejectionCode.missingField),
        ("price", nil, RejectionCode.missingField),
        ("price", #""10000""#, RejectionCode.invalidType),
        ("price", "0", RejectionCode.invalidPrice),
        ("price", "-5", RejectionCode.invalidPrice),
        ("price", "100.5", RejectionCode.invalidPrice),
        ("price", "1e4", RejectionCode.invalidPrice),
        ("price", "1000000000001", RejectionCode.invalidPrice),
        ("price", "99999999999999999999999", RejectionCode.invalidPrice),
        ("currency", nil, RejectionCode.missingField),
        ("currency", #""XYZ""#, RejectionCode.unsupportedCurrency),
        ("currency", #""cny""#, RejectionCode.unsupportedCurrency),
        ("discount", #""1""#, RejectionCode.invalidDiscount),
        ("discount", #""-0.1""#, RejectionCode.invalidDiscount),
        ("discount", "1.5", RejectionCode.invalidDiscount),
        ("discount", "true", RejectionCode.invalidType),
        ("channel", #""paypal""#, RejectionCode.unsupportedChannel),
        ("channel", nil, RejectionCode.missingField),
        ("payment_method", #""""#, RejectionCode.invalidPaymentMethod),
        ("payment_method", #""pm card""#, RejectionCode.invalidPaymentMethod),
        ("user_id", "7", RejectionCode.invalidType),
    ] as [(String, String?, String)])
    func rejectsEveryInvalidField(field: String, json: String?, code: String) {
        let found = rejection(replacing(field, with: json))
        #expect(found?.reason.code == code)
        #expect(found?.reason.message.isEmpty == false)
    }

    @Test func rejectsAnAmountThatRoundsToZero() {
        let text = replacing("price", with: "1").replacingOccurrences(of: #""0.10""#, with: #""0.9""#)
        #expect(rejection(text)?.reason.code == RejectionCode.amountTooSmall)
    }

    @Test func keepsTheOrderIDOnRejectionsAfterItWasRead() {
        let found = rejection(replacing("currency", with: #""XYZ""#))
        #expect(found?.orderID == "ord_1001")
        #expect(found?.eventID == "evt_01")
    }

    @Test func rejectsEventsLargerThan64KiBWithoutParsing() {
        let huge = [UInt8](repeating: UInt8(ascii: "{"), count: 64 * 1024 + 1)
        #expect(throws: OrderRejection.self) { try OrderCreated.decode(huge) }
        do {
            _ = try OrderCreated.decode(huge)
        } catch {
            #expect(error.reason.code == RejectionCode.payloadTooLarge)
        }
    }

    @Test func refusesDeepNestingAndInvalidUTF8() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(rejection(deep)?.reason.code == RejectionCode.malformedJSON)
        var bytes = Array(#"{"order_id":""#.utf8)
        bytes += [0xFF, 0xFE]
        bytes += Array(#""}"#.utf8)
        #expect(throws: OrderRejection.self) { try OrderCreated.decode(bytes) }
    }

    @Test func fingerprintIgnoresEventIDAndNormalisesTheDiscount() throws {
        let first = try decode(Self.valid)
        let second = try decode(replacing("event_id", with: #""evt_02""#).replacingOccurrences(of: #""0.10""#, with: #""0.1""#))
        #expect(first.fingerprint == second.fingerprint)
        let other = try decode(replacing("price", with: "10001"))
        #expect(first.fingerprint != other.fingerprint)
    }

    @Test func encodesWhatItDecodes() throws {
        let order = try decode(Self.valid)
        #expect(try OrderCreated.decode(Array(order.json().utf8)) == order)
    }
}
