import CashierCore
import Foundation
import Kafka
import Testing

/// The invariants of DESIGN.md section 1, end to end: real Postgres, the dev Kafka broker over
/// TCP, the channel sandbox over HTTP, and `cashier worker` processes. Serialized: the tests
/// share one consumer group, and some of them add or kill workers.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct PipelineEndToEndTests {
    @Test func manyOrdersAreSettledExactlyOnce() async throws {
        let pipeline = try await Pipeline.shared()
        var orders: [OrderCreated] = []
        for index in 0..<200 {
            let declines = index % 10 == 0
            orders.append(pipeline.order("many\(index)", price: Int64(1000 + index), paymentMethod: declines ? "pm_card_chargeDeclined" : "pm_card_visa"))
        }
        for order in orders { try await pipeline.publish(order) }
        try await pipeline.waitForTerminal(orders.map(\.orderID))

        for order in orders {
            let charges = try await pipeline.charges(order.orderID)
            let declines = order.paymentMethod == "pm_card_chargeDeclined"
            #expect(charges.count == 1, "order \(order.orderID) reached the channel \(charges.count) times")
            #expect(charges.first?.status == (declines ? "requires_payment_method" : "succeeded"))
            #expect(try await pipeline.paymentState(order.orderID) == (declines ? "failed" : "succeeded"))
        }
        let results = try await pipeline.results(for: Set(orders.map(\.orderID)), atLeast: orders.count)
        #expect(results.count == orders.count)
        for order in orders {
            let events = results[order.orderID] ?? []
            #expect(Set(events.map { "\($0)" }).count == 1, "order \(order.orderID) has differing result events")
            #expect(events.first?["amount"] == .number(String(order.amount)))
        }
    }

    @Test func duplicateEventsChangeNothing() async throws {
        let pipeline = try await Pipeline.shared()
        let order = pipeline.order("dup")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        // The same order again: identical, and under new event ids with an equal discount spelling.
        var again = order
        again.eventID = "evt_\(pipeline.runID)_dup_again"
        again.discount = try DiscountRatio(parsing: "0.1000")
        let reports = [try await pipeline.publish(order), try await pipeline.publish(again), try await pipeline.publish(order)]
        for report in reports {
            try await eventually("duplicate at \(report.partition)/\(report.offset) recorded") {
                try await pipeline.inboxDisposition(report)?.0 == "duplicate"
            }
        }
        #expect(try await pipeline.charges(order.orderID).count == 1)
        let results = try await pipeline.results(for: [order.orderID], atLeast: 1)
        #expect(Set((results[order.orderID] ?? []).map { "\($0)" }).count == 1)
    }

    @Test func conflictingEventIsDeadLetteredAndNeverCharged() async throws {
        let pipeline = try await Pipeline.shared()
        let order = pipeline.order("conflict")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        var conflicting = order
        conflicting.eventID = "evt_\(pipeline.runID)_conflict_2"
        conflicting.price = 99_999
        let report = try await pipeline.publish(conflicting)
        try await eventually("conflict recorded") {
            try await pipeline.inboxDisposition(report)?.0 == "conflict"
        }
        #expect(try await pipeline.count("SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'order_conflict'") == 1)
        #expect(try await pipeline.charges(order.orderID).count == 1)
        #expect(try await pipeline.paymentState(order.orderID) == "succeeded")
        let results = try await pipeline.results(for: [order.orderID], atLeast: 1)
        #expect(results[order.orderID]?.allSatisfy { $0["status"] == .string("succeeded") } == true)
    }

    @Test func everyBadInputIsRejectedRecordedAndNeverCharged() async throws {
        let pipeline = try await Pipeline.shared()
        let id = pipeline.orderID
        func event(_ name: String, _ fields: String) -> [UInt8] {
            Array(#"{"event_id":"evt_\#(name)","order_id":"\#(id(name))","user_id":"u","item_id":"i",\#(fields)}"#.utf8)
        }
        let ok = #""currency":"CNY","channel":"card","payment_method":"pm_card_visa""#
        let cases: [(bytes: [UInt8], orderID: String?, code: String)] = [
            (Array("not json".utf8), nil, "malformed_json"),
            (Array(#"{"order_id":"\#(id("trunc"))","price":1"#.utf8), nil, "malformed_json"),
            (Array("[1]".utf8), nil, "not_an_object"),
            (event("types", #""price":"100",\#(ok)"#), id("types"), "invalid_type"),
            (event("missing", #""price":100,"channel":"card","payment_method":"pm_card_visa""#), id("missing"), "missing_field"),
            (event("currency", #""price":100,"currency":"XYZ","channel":"card","payment_method":"pm_card_visa""#), id("currency"), "unsupported_currency"),
            (event("channel", #""price":100,"currency":"CNY","channel":"paypal","payment_method":"pm_card_visa""#), id("channel"), "unsupported_channel"),
            (event("zero", #""price":0,\#(ok)"#), id("zero"), "invalid_price"),
            (event("negative", #""price":-1,\#(ok)"#), id("negative"), "invalid_price"),
            (event("discount", #""price":100,"discount":"1",\#(ok)"#), id("discount"), "invalid_discount"),
            (event("rounds", #""price":1,"discount":"0.9",\#(ok)"#), id("rounds"), "amount_too_small"),
            (Array(#"{"event_id":"e","order_id":"bad id!","user_id":"u","item_id":"i","price":1,\#(ok)}"#.utf8), nil, "invalid_order_id"),
            (event("huge", #""price":100,\#(ok),"pad":"\#(String(repeating: "x", count: 70_000))""#), nil, "payload_too_large"),
        ]
        var reports: [EventOrigin] = []
        for item in cases { reports.append(try await pipeline.publish(item.bytes, key: item.orderID)) }
        // The line keeps moving: a valid order after all of them is charged.
        let after = pipeline.order("after_bad_input")
        try await pipeline.publish(after)

        for (item, report) in zip(cases, reports) {
            try await eventually("rejection of \(item.code)") {
                try await pipeline.inboxDisposition(report) != nil
            }
            let recorded = try await pipeline.inboxDisposition(report)
            #expect(recorded?.0 == "rejected", "\(item.code)")
            #expect(recorded?.1 == item.code)
            if let orderID = item.orderID { #expect(try await pipeline.charges(orderID).isEmpty) }
        }
        try await pipeline.waitForTerminal([after.orderID])
        #expect(pipeline.worker.isRunning)

        let named = Set(cases.compactMap(\.orderID))
        let results = try await pipeline.results(for: named, atLeast: named.count)
        for orderID in named {
            #expect(results[orderID]?.first?["status"] == .string("rejected"), "\(orderID)")
            #expect(results[orderID]?.first?["reason"]?["code"] != nil)
        }
    }

    @Test func slowChannelAnswerPastTheTimeoutIsResolvedToOneCharge() async throws {
        let pipeline = try await Pipeline.shared()
        // The sandbox charges at once but answers after 4 s; the worker gives up after 2 s,
        // and finds the outcome by repeating the call with the same idempotency key.
        let order = pipeline.order("slow", paymentMethod: "pm_sandbox_slow")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        #expect(try await pipeline.paymentState(order.orderID) == "succeeded")
        let charges = try await pipeline.charges(order.orderID)
        #expect(charges.count == 1)
        #expect(charges.first?.key == PaymentIdentity.idempotencyKey(orderID: order.orderID))
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM payment_attempts a JOIN payments p USING (payment_id) WHERE p.order_id = '\(order.orderID)' AND a.outcome = 'unknown'") >= 1)
    }

    @Test func twoWorkersShareTheGroupAndStopGracefully() async throws {
        let pipeline = try await Pipeline.shared()
        let second = try CashierProcess(
            "worker-2", Pipeline.workerArguments(brokers: pipeline.brokers, group: pipeline.groupID),
            environment: Pipeline.workerEnvironment(pipeline.sandboxURL))
        try await eventually("worker-2 to get partitions") { second.log.contains("partitions assigned") }
        let orders = (0..<120).map { pipeline.order("pair\($0)") }
        for order in orders { try await pipeline.publish(order) }
        try await pipeline.waitForTerminal(orders.map(\.orderID))
        for order in orders { #expect(try await pipeline.charges(order.orderID).count == 1) }
        let workers = try await pipeline.count(
            "SELECT count(DISTINCT a.worker)::integer FROM payment_attempts a JOIN payments p USING (payment_id) WHERE p.order_id LIKE '\(pipeline.orderID("pair"))%'")
        #expect(workers == 2, "both workers should have charged some of the orders")

        second.signal(SIGTERM)
        let status = await second.waitForExit(timeout: .seconds(30))
        #expect(status == 0, "worker-2 log:\n\(second.log.suffix(2000))")
    }

    @Test func workerKilledMidChargeLosesNothingAndChargesOnce() async throws {
        let pipeline = try await Pipeline.shared()
        let victim = try CashierProcess(
            "worker-victim", Pipeline.workerArguments(brokers: pipeline.brokers, group: pipeline.groupID),
            environment: Pipeline.workerEnvironment(pipeline.sandboxURL))
        try await eventually("the victim to get partitions") { victim.log.contains("partitions assigned") }
        // Every charge is held 1.5 s at the channel before it executes: the victim dies while
        // its calls are in flight, and its orders must be finished by the surviving worker.
        let orders = (0..<24).map { pipeline.order("kill\($0)", paymentMethod: "pm_sandbox_hold_1500") }
        for order in orders { try await pipeline.publish(order) }
        let victimName = "%/\(victim.pid)"
        try await eventually("the victim to start charging", timeout: .seconds(30)) {
            try await pipeline.count("SELECT count(*)::integer FROM payment_attempts WHERE worker LIKE '\(victimName)' AND finished_at IS NULL") > 0
        }
        victim.signal(SIGKILL)
        _ = await victim.waitForExit(timeout: .seconds(5))

        try await pipeline.waitForTerminal(orders.map(\.orderID), timeout: .seconds(90))
        for order in orders {
            #expect(try await pipeline.paymentState(order.orderID) == "succeeded")
            #expect(try await pipeline.charges(order.orderID).filter { $0.status == "succeeded" }.count == 1, "\(order.orderID)")
        }
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM payment_attempts WHERE worker LIKE '\(victimName)' AND outcome = 'interrupted'") > 0)
        let results = try await pipeline.results(for: Set(orders.map(\.orderID)), atLeast: orders.count)
        #expect(results.count == orders.count)
    }
}
