@testable import CashierChannels
import CashierCore
import Testing

/// Every row of the card protocol table (CHANNELS.md, "Card"), and what a lookup makes of the
/// intents it finds. No network.
@Suite struct CardClassificationTests {
    func body(_ text: String) -> JSONValue { try! JSONParser.parse(Array(text.utf8)) }

    func classify(_ status: Int, _ text: String?, shouldRetry: Bool? = nil) -> ChannelOutcome {
        CardResponseClassifier.classify(status: status, shouldRetry: shouldRetry, body: text.map(body))
    }

    @Test func intentsAnsweredWith200() {
        #expect(classify(200, #"{"id":"pi_1","status":"succeeded"}"#) == .succeeded(reference: "pi_1"))
        let processing = classify(200, #"{"id":"pi_2","status":"processing"}"#)
        #expect(processing.kind == "unknown" && processing.reason?.code == "processing" && processing.reference == "pi_2")
        for status in ["requires_payment_method", "canceled"] {
            #expect(classify(200, #"{"id":"pi_3","status":"\#(status)"}"#).kind == "declined", "\(status)")
        }
        let declined = classify(200, #"{"id":"pi_4","status":"requires_payment_method","last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds"}}"#)
        #expect(declined.reason?.code == "insufficient_funds")
        let action = classify(200, #"{"id":"pi_5","status":"requires_action"}"#)
        #expect(action.kind == "unknown" && action.reference == "pi_5")
        #expect(classify(200, #"{"status":"succeeded"}"#).kind == "unknown", "no id: not believed as a success")
        #expect(classify(200, nil).kind == "unknown")
    }

    @Test func errorsByStatus() {
        let cardError = #"{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline"}}"#
        #expect(classify(402, cardError) == .declined(classify(402, cardError).reason!))
        #expect(classify(402, cardError).reason?.code == "generic_decline")
        #expect(classify(400, #"{"error":{"type":"idempotency_error","code":"idempotency_key_in_use"}}"#).kind == "unknown")
        #expect(classify(400, #"{"error":{"type":"invalid_request_error","code":"parameter_missing"}}"#).kind == "declined")
        #expect(classify(409, #"{"error":{"type":"idempotency_error"}}"#).kind == "unknown")
        #expect(classify(429, nil).kind == "not_processed", "rate limited before anything was done")
        for status in [401, 403] { #expect(classify(status, nil).kind == "not_processed", "\(status)") }
        for status in [500, 502, 503] { #expect(classify(status, nil).kind == "retryable", "\(status): a 5xx may follow a charge") }
        #expect(classify(500, nil, shouldRetry: false).kind == "unknown", "a 5xx never says the charge did not happen")
        #expect(classify(402, cardError, shouldRetry: true).kind == "retryable", "the channel's header wins")
        #expect(classify(301, nil).kind == "unknown")
    }

    @Test func lookupVerdicts() {
        func intent(_ id: String, _ status: String, order: String = "ord_1", amount: String = "9000", currency: String = "cny") -> JSONValue {
            body(#"{"id":"\#(id)","status":"\#(status)","amount":\#(amount),"currency":"\#(currency)","metadata":{"order_id":"\#(order)"}}"#)
        }
        let request = ChargeRequest(
            paymentID: "pay_1", orderID: "ord_1", itemID: "course_7", amount: 9000, currency: .cny, paymentMethod: "pm_card_visa", idempotencyKey: "ck1")
        func verdict(_ intents: [JSONValue]) -> PaymentLookup { CardAdapter.lookupVerdict(intents, of: request) }
        #expect(verdict([]) == .notPaid)
        #expect(verdict([intent("pi_1", "succeeded")]) == .paid(reference: "pi_1"))
        #expect(verdict([intent("pi_1", "requires_payment_method"), intent("pi_2", "canceled")]) == .notPaid)
        #expect(verdict([intent("pi_1", "processing"), intent("pi_2", "succeeded")]) == .paid(reference: "pi_2"))
        guard case .unknown(let reason) = verdict([intent("pi_1", "canceled"), intent("pi_2", "processing")]) else {
            Issue.record("a processing intent keeps the answer open"); return
        }
        #expect(reason.code == "processing")
        guard case .unknown = verdict([intent("pi_3", "requires_action")]) else { Issue.record("an unsettled status is unknown"); return }
        guard case .unknown = verdict([intent("pi_4", "succeeded", order: "ord_other")]) else {
            Issue.record("an answer naming another order proves nothing about this one"); return
        }
        guard case .unknown = verdict([body(#"{"object":"payment_intent"}"#)]) else { Issue.record("an unreadable intent is unknown"); return }
        // A charge for this order on other terms is neither this payment's charge nor no charge.
        for (name, other) in [
            ("another amount", intent("pi_5", "succeeded", amount: "1")), ("another currency", intent("pi_5", "succeeded", currency: "usd")),
            ("no amount", body(#"{"id":"pi_5","status":"succeeded","currency":"cny","metadata":{"order_id":"ord_1"}}"#)),
            ("no currency", body(#"{"id":"pi_5","status":"succeeded","amount":9000,"metadata":{"order_id":"ord_1"}}"#)),
        ] {
            guard case .paidOnOtherTerms("pi_5", let reason) = verdict([other]) else { Issue.record("\(name) was believed"); continue }
            #expect(reason.code == ChannelOutcome.termsMismatchCode, "\(name)")
        }
        guard case .paidOnOtherTerms("pi_5", _) = verdict([intent("pi_6", "canceled"), intent("pi_5", "succeeded", amount: "1")]) else {
            Issue.record("a mismatch is what a person must see, ahead of no charge"); return
        }
        guard case .unknown(let open) = verdict([intent("pi_5", "succeeded", amount: "1"), intent("pi_7", "processing")]) else {
            Issue.record("an intent of ours still processing may yet be the charge"); return
        }
        #expect(open.code == "processing")
        #expect(verdict([intent("pi_5", "succeeded", amount: "1"), intent("pi_8", "succeeded")]) == .paid(reference: "pi_8"), "our own charge is found beside another")
    }
}
