import Foundation
import Testing
@testable import CashierCore

/// Every kind of event Cashier publishes, encoded by its Codable type, validates against
/// Contracts/schemas (scripts/check-contracts.py, python3-jsonschema), and encodes to the same
/// bytes every time.
@Suite struct EventContractTests {
    static let order = OrderCreated(
        eventID: "evt_1", orderID: "ord_1001", userID: "u_42", itemID: "course_7", price: 10_000, currency: Currency(code: "CNY")!,
        discount: try! DiscountRatio(parsing: "0.10"), channel: .card, paymentMethod: "pm_card_visa", createdAt: "2026-11-24T10:00:00Z")
    static let source = ResultEvent.Source(topic: "orders.created", partition: 3, offset: 1812)
    static let at = "2026-11-24T10:00:01.250Z"

    static func result(_ status: ResultEvent.Status, reference: String?, attempts: Int, reason: Reason?) -> ResultEvent {
        ResultEvent(
            eventID: "res_\(status)_\(reason?.code ?? "ok")", orderID: order.orderID, paymentID: "pay_1", status: status, amount: order.amount,
            currency: "CNY", channel: "card", channelReference: reference, attempts: attempts, reason: reason, occurredAt: at)
    }

    /// What `payments.results` carries: success, each way to fail, each way to be rejected.
    static let results: [ResultEvent] = [
        result(.succeeded, reference: "pi_1", attempts: 1, reason: nil),
        result(.failed, reference: nil, attempts: 1, reason: Reason(code: "card_declined", message: "Your card was declined.")),
        result(.failed, reference: nil, attempts: 8, reason: Reason(code: "retries_exhausted", message: "8 attempts failed; last: service_unavailable: card channel HTTP 503")),
        result(.failed, reference: nil, attempts: 2, reason: Reason(code: "lookup_not_paid", message: "the channel holds no charge for this payment")),
        // Rejected with an order id (invalid field) and without one (not even JSON).
        ResultEvent(
            eventID: "rej_1", orderID: "ord_1002", paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
            channelReference: nil, attempts: 0, reason: Reason(code: RejectionCode.invalidPrice, message: "price must be 1 … 10^12"), occurredAt: at),
        ResultEvent(
            eventID: "rej_2", orderID: nil, paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
            channelReference: nil, attempts: 0, reason: Reason(code: RejectionCode.malformedJSON, message: "bad \"quote\" / \u{0}\n"),
            occurredAt: at, source: source),
    ]

    static let retries = [
        RetryRequest(
            orderID: order.orderID, paymentID: "pay_1", attempts: 1, dueAtMilliseconds: 1_795_946_402_000,
            lastError: Reason(code: "service_unavailable", message: "card channel HTTP 503"), source: source)
    ]

    /// One `payments.dlq` shape, every cause the code dead-letters with.
    static let deadLetters: [DeadLetterEvent] = {
        let lastError = Reason(code: "service_unavailable", message: "card channel HTTP 503")
        return [
            DeadLetterEvent(
                deadLetterID: 1, orderID: order.orderID, paymentID: "pay_1", channel: .card, attempts: 8,
                reason: Reason(code: "retries_exhausted", message: "8 attempts failed"), lastError: lastError, source: source, event: order),
            DeadLetterEvent(
                deadLetterID: 2, orderID: order.orderID, paymentID: "pay_1", channel: .wechat, attempts: 3,
                reason: Reason(code: "outcome_unknown", message: "no answer within the horizon"), lastError: lastError, source: source, event: order),
            DeadLetterEvent(
                deadLetterID: 3, orderID: order.orderID, paymentID: "pay_1", channel: .alipay, attempts: 1,
                reason: Reason(code: "channel_contradiction", message: "notification reported a charge"), source: source),
            DeadLetterEvent(
                deadLetterID: 4, orderID: order.orderID, reason: Reason(code: "order_conflict", message: "other fields"), source: source,
                event: order),
            DeadLetterEvent(deadLetterID: 5, orderID: order.orderID, reason: Reason(code: "order_conflict", message: "later event invalid"), source: source),
            DeadLetterEvent(deadLetterID: 6, orderID: nil, reason: Reason(code: "storage_error", message: "could not be stored"), source: source),
            DeadLetterEvent(deadLetterID: 7, orderID: nil, reason: Reason(code: "invalid_retry_message", message: "lacks order_id"), source: source),
            DeadLetterEvent(deadLetterID: 8, orderID: nil, reason: Reason(code: RejectionCode.invalidText, message: "NUL in order_id"), source: source),
        ]
    }()

    @Test func everyEventKindValidatesAgainstTheContract() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cashier-events-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var files = 0
        func write(_ text: String, as schema: String) throws {
            files += 1
            try Data(text.utf8).write(to: directory.appendingPathComponent("\(schema).\(files).json"))
        }
        for event in Self.results { try write(event.json(), as: "payment-result") }
        for event in Self.retries { try write(event.json(), as: "payment-retry") }
        for event in Self.deadLetters { try write(event.json(), as: "dead-letter") }
        try write(Self.order.json(), as: "order-created")

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("scripts/check-contracts.py").path, "--events", directory.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "events do not match Contracts/schemas:\n\(complaint)")
    }

    @Test func aResultEncodesToTheSameBytesEveryTime() throws {
        for event in Self.results {
            let first = event.json()
            // A copy, a re-derivation from the same fields, and a round trip through the decoder
            // all give the bytes stored in the outbox at first.
            let copy = event
            #expect(copy.json() == first)
            let decoded = try JSONDecoder().decode(ResultEvent.self, from: Data(first.utf8))
            #expect(decoded == event)
            #expect(decoded.json() == first)
        }
    }

    @Test func resultKeysAreSortedAndNullsExplicit() {
        let rejected = Self.results[5]
        #expect(rejected.json() == #"{"amount":null,"attempts":0,"channel":null,"channel_reference":null,"currency":null,"event_id":"rej_2","occurred_at":"2026-11-24T10:00:01.250Z","order_id":null,"payment_id":null,"reason":{"code":"malformed_json","message":"bad \"quote\" / \u0000\n"},"source":{"offset":1812,"partition":3,"topic":"orders.created"},"status":"rejected"}"#)
    }

    @Test func deadLettersShareOneShapeAndRoundTrip() throws {
        for letter in Self.deadLetters {
            let parsed = try JSONParser.parse(Array(letter.json().utf8))
            guard case .object(let members) = parsed else { Issue.record("not an object"); continue }
            let allowed: Set = ["dead_letter_id", "order_id", "payment_id", "channel", "attempts", "reason", "last_error", "source", "event"]
            #expect(Set(members.map(\.0)).isSubset(of: allowed))
            #expect(members.contains { $0.0 == "order_id" }, "order_id is always present, null when unknown")
            #expect(try JSONDecoder().decode(DeadLetterEvent.self, from: Data(letter.json().utf8)) == letter)
        }
        #expect(Self.deadLetters[0].json().contains(#""event":{"channel":"card","created_at":"2026-11-24T10:00:00Z","currency":"CNY","discount":"0.1","#))
    }

    @Test func amountsAreIntegersAndTheDiscountDecimalText() throws {
        let parsed = try JSONParser.parse(Array(Self.results[0].json().utf8))
        #expect(parsed["amount"] == .number("9000"))
        let order = try JSONParser.parse(Array(Self.order.json().utf8))
        #expect(order["price"] == .number("10000"))
        #expect(order["discount"] == .string("0.1"))
    }
}
