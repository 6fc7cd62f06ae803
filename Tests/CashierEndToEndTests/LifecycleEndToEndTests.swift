import AsyncHTTPClient
import CashierCore
import CashierStore
import Foundation
import PostgresNIO
import Testing

/// One test per finding of the lifecycle review (issue 9), each producing its fault for real:
/// a breaker opening in a burst, a saturated channel, a card intent still `processing`, a
/// deduction pending past the retry schedule, poison text, an answer stalled after its
/// headers, a lease lapsing mid-call, Postgres restarted under load, a notification that
/// contradicts a decline.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct LifecycleEndToEndTests {
    /// Results published for these orders (on the stage's broker, or the shared one).
    func statuses(_ pipeline: Pipeline, _ orderIDs: [String], stage: Stage? = nil) async throws -> [String: [String]] {
        let results = try await pipeline.results(for: Set(orderIDs), atLeast: orderIDs.count, timeout: .seconds(60), on: stage)
        return results.mapValues { $0.compactMap { if case .string(let status)? = $0["status"] { status } else { nil } } }
    }

    @Test func aBurstThatOpensTheBreakerEndsWithEveryFlakyOrderChargedOnce() async throws {
        let pipeline = try await Pipeline.shared()
        // Every card fails its first three calls: the worker's breaker opens during the burst.
        let stage = try await Stage(environment: [
            "CASHIER_BREAKER_MIN_CALLS": "5", "CASHIER_BREAKER_OPEN_MS": "500", "CASHIER_BREAKER_MAX_WAIT_MS": "1500",
        ])
        let worker = try await stage.worker()
        let retry = try await stage.retryWorker()
        let orders = (0..<40).map { pipeline.order("burst\($0)", paymentMethod: "pm_sandbox_flaky_3") }
        for order in orders { try await stage.publish(order) }
        try await pipeline.waitForTerminal(orders.map(\.orderID), timeout: .seconds(120), on: stage)
        #expect(worker.log.contains("circuit breaker opened"), "the burst opened the breaker")
        for order in orders {
            let payment = try await pipeline.payment(order.orderID, on: stage)
            #expect(payment?.state == "succeeded", "\(order.orderID): \(String(describing: payment))")
            // Three 503s and the success: a call the breaker held back is never an attempt.
            #expect(payment?.attempts == 4, "\(order.orderID) attempts")
            #expect(try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count == 1)
        }
        worker.signal(SIGTERM)
        retry.signal(SIGTERM)
    }

    @Test func twoHundredFiftySixOrdersAtAHundredMillisecondsNeverTouchTheRetryPath() async throws {
        let pipeline = try await Pipeline.shared()
        let stage = try await Stage(sandbox: ["--latency-ms", "100"])
        let worker = try await stage.worker(concurrency: 256)
        let orders = (0..<256).map { pipeline.order("wide\($0)") }
        for order in orders { try await stage.publish(order) }
        try await pipeline.waitForTerminal(orders.map(\.orderID), timeout: .seconds(90), on: stage)
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM payments WHERE state = 'succeeded' AND attempts = 1", on: stage) == 256,
            "every order settled on its first call")
        #expect(try await pipeline.count("SELECT count(*)::integer FROM outbox WHERE kind = 'retry'", on: stage) == 0,
            "none was handed to the retry path")
        worker.signal(SIGTERM)
    }

    @Test func aProcessingCardChargeThatCompletesLaterSucceedsOnceAndIsNeverReportedFailed() async throws {
        let pipeline = try await Pipeline.shared()
        // The channel answers `processing`, and confirms the charge 1.5 s later.
        let order = pipeline.order("processing", paymentMethod: "pm_sandbox_processing_1500")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(30))
        #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
        #expect(try await pipeline.charges(order.orderID).filter { $0.status == "succeeded" }.count == 1)
        #expect(try await statuses(pipeline, [order.orderID])[order.orderID] == ["succeeded"], "no failed result, ever")
    }

    @Test func aWeChatDeductionPendingPastTheWholeRetryScheduleSucceedsWithOneCall() async throws {
        let pipeline = try await Pipeline.shared()
        // Pending 6 s: longer than the whole retry schedule of the tests (4 calls, ≤ 2.8 s of waits).
        let order = pipeline.order("wx_pending_long", paymentMethod: "wx_contract_slow_6000", channel: .wechat)
        try await pipeline.publish(order)
        try await eventually("the deduction to be looked up") { try await pipeline.paymentState(order.orderID) == "resolving" }
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(40))
        let payment = try await pipeline.payment(order.orderID)
        #expect(payment?.state == "succeeded")
        #expect(payment?.attempts == 1, "waiting for a pending deduction spends no attempt")
        #expect(try await pipeline.charges(order.orderID).count == 1)
        #expect(try await statuses(pipeline, [order.orderID])[order.orderID]?.allSatisfy { $0 == "succeeded" } == true)
    }

    @Test func poisonTextIsRejectedAndEveryPartitionCommitsToItsEnd() async throws {
        let pipeline = try await Pipeline.shared()
        let stage = try await Stage()
        let worker = try await stage.worker()
        func event(_ name: String, user: String = "u_1", currency: String = "CNY", item: String = "course_7") -> [UInt8] {
            Array(#"{"event_id":"evt_\#(name)","order_id":"\#(pipeline.orderID(name))","user_id":"\#(user)","item_id":"\#(item)","price":10000,"currency":"\#(currency)","discount":"0.10","channel":"card","payment_method":"pm_card_visa","created_at":"2026-11-24T10:00:00Z"}"#.utf8)
        }
        // Each round names its own orders: the same invalid bytes again would be a duplicate of
        // the first rejection (it decided the order), not a second poison record.
        func poison(_ round: Int) -> [(String, [UInt8])] {
            [
                ("nul_user\(round)", event("nul_user\(round)", user: #"u\u0000x"#)),
                ("nul_currency\(round)", event("nul_currency\(round)", currency: #"CN\u0000Y"#)),
                ("nul_item\(round)", event("nul_item\(round)", item: #"course\u00007"#)),
                ("lone_high\(round)", event("lone_high\(round)", user: #"u\ud800x"#)),
                ("lone_low\(round)", event("lone_low\(round)", item: #"c\udc00"#)),
            ]
        }
        let poisoned = poison(0) + poison(1)
        var valid: [String] = []
        var origins: [EventOrigin] = []
        for round in 0..<2 {
            for (name, bytes) in poison(round) { origins.append(try await stage.publish(bytes, key: pipeline.orderID(name))) }
            for index in 0..<30 {
                let order = pipeline.order("clean\(round)_\(index)")
                valid.append(order.orderID)
                try await stage.publish(order)
            }
        }
        try await pipeline.waitForTerminal(valid, timeout: .seconds(60), on: stage)
        for origin in origins {
            let disposition = try await pipeline.inboxDisposition(origin, on: stage)
            #expect(disposition?.0 == "rejected" && disposition?.1 == "invalid_text", "offset \(origin.offset): \(String(describing: disposition))")
        }
        // A NUL inside a value leaves the order id readable: its rejection names the order.
        // (An unpaired surrogate makes the whole document unreadable: its result names the record.)
        let named = poisoned.filter { $0.0.hasPrefix("nul") }.map { pipeline.orderID($0.0) }
        let results = try await pipeline.results(for: Set(named), atLeast: named.count, on: stage)
        for id in named {
            #expect(results[id]?.first?["status"] == .string("rejected"), "\(id)")
            #expect(results[id]?.first?["reason"]?["code"] == .string("invalid_text"), "\(id)")
        }
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM outbox WHERE kind = 'result' AND payload LIKE '%invalid_text%' AND published_at IS NOT NULL", on: stage) == 10,
            "every poison record got its rejected result, published")
        // Stop the worker (it commits what it finished) and read the group's position.
        worker.signal(SIGTERM)
        #expect(await worker.waitForExit(timeout: .seconds(30)) == 0)
        #expect(try await stage.uncommittedOrders() == 0, "every partition's committed offset reached its end")
    }

    @Test func anAnswerStalledAfterItsHeadersResolvesToOneChargeWithinTheTimeoutAndALookup() async throws {
        let pipeline = try await Pipeline.shared()
        // The channel charges, sends its headers and half its body, then goes silent.
        let order = pipeline.order("stalled", paymentMethod: "pm_sandbox_stall")
        let started = ContinuousClock.now
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(30))
        let took = ContinuousClock.now - started
        #expect(took < .seconds(10), "2 s channel timeout plus a lookup, not the stall (took \(took))")
        #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
        #expect(try await pipeline.charges(order.orderID).count == 1)
    }

    @Test func aLeaseLapsingMidCallDoesNotLoseTheLateSuccess() async throws {
        let pipeline = try await Pipeline.shared()
        let stage = try await Stage(environment: ["CASHIER_LEASE_MS": "1500", "CASHIER_SWEEP_MS": "300"])
        // A long channel timeout: the frozen worker will still read the channel's late answer.
        let worker = try await stage.worker(arguments: ["--channel-timeout-ms", "10000"])
        let retry = try await stage.retryWorker()
        // Held 4 s at the channel before it charges.
        let order = pipeline.order("lease_lapse", paymentMethod: "pm_sandbox_hold_4000")
        try await stage.publish(order)
        try await eventually("the call to be sent") { try await pipeline.attempts(order.orderID, on: stage).count >= 1 }
        // Freeze the worker mid-call: its lease lapses, the sweeper hands the payment on, and
        // the other side looks it up and calls again with the same key meanwhile.
        worker.signal(SIGSTOP)
        try await eventually("another process to take the payment over", timeout: .seconds(20)) {
            try await pipeline.paymentState(order.orderID, on: stage) != "processing"
        }
        try await Task.sleep(for: .seconds(1))
        worker.signal(SIGCONT)
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(40), on: stage)
        #expect(try await pipeline.payment(order.orderID, on: stage)?.state == "succeeded")
        #expect(try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count == 1)
        #expect(try await statuses(pipeline, [order.orderID], stage: stage)[order.orderID]?.allSatisfy { $0 == "succeeded" } == true)
        worker.signal(SIGTERM)
        retry.signal(SIGTERM)
    }

    @Test func postgresRestartedTwiceUnderLoadLosesNothingAndChargesNothingTwice() async throws {
        let pipeline = try await Pipeline.shared()
        let postgres = try await OwnPostgres.start("restart")
        defer { postgres.stop() }
        let stage = try await Stage(sandbox: ["--latency-ms", "20"], databaseURL: postgres.url)
        let db = stage.db
        let worker = try await stage.worker(concurrency: 64)
        let retry = try await stage.retryWorker()
        let orders = (0..<600).map { pipeline.order("restart\($0)") }
        let publishing = Task { for order in orders { try await stage.publish(order); try await Task.sleep(for: .milliseconds(3)) } }
        for _ in 0..<2 {
            try await Task.sleep(for: .seconds(1.5))
            try await postgres.pause()
            try await Task.sleep(for: .seconds(2))
            try await postgres.resume()
        }
        try await publishing.value
        let ids = orders.map(\.orderID)
        try await eventually("all 600 orders to settle after the restarts", timeout: .seconds(120)) {
            let rows = try await db.query(
                "SELECT count(*)::integer FROM payments WHERE order_id = ANY(\(ids)) AND state = 'succeeded'", logger: pipeline.logger)
            for try await count in rows.decode(Int.self) { return count == ids.count }
            return false
        }
        // One charge per order at the channel, and one result content per order on the topic.
        var charged: [String: Int] = [:]
        for order in orders { charged[order.orderID] = try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count }
        #expect(charged.values.allSatisfy { $0 == 1 }, "double or missing charges: \(charged.filter { $0.value != 1 })")
        let results = try await pipeline.results(for: Set(ids), atLeast: ids.count, timeout: .seconds(60), on: stage)
        #expect(results.count == ids.count, "every order has its result")
        #expect(results.values.allSatisfy { Set($0.map { "\($0)" }).count == 1 }, "repeats carry the same content")
        worker.signal(SIGTERM)
        retry.signal(SIGTERM)
        _ = await worker.waitForExit(timeout: .seconds(30))
        _ = await retry.waitForExit(timeout: .seconds(30))
    }

    @Test func aNotificationForAFailedPaymentIsDeadLetteredAsAContradictionNotASecondResult() async throws {
        let pipeline = try await Pipeline.shared()
        // Declined (insufficient balance): the order's result is `failed` for good.
        let order = pipeline.order("wx_contradiction", paymentMethod: "wx_contract_notenough", channel: .wechat)
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        #expect(try await pipeline.paymentState(order.orderID) == "failed")
        // Then a genuine notification says it was paid.
        let key = PaymentIdentity.idempotencyKey(orderID: order.orderID)
        let notification = try WeChatNotification(pipeline: pipeline, outTradeNo: key, transactionID: "wx_late_\(pipeline.runID)")
        #expect(try await notification.send(to: pipeline.notifyURL) == 204)
        try await eventually("the contradiction to be dead-lettered") {
            try await pipeline.count(
                "SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'channel_contradiction' AND status = 'open'") == 1
        }
        #expect(try await pipeline.paymentState(order.orderID) == "failed", "the order's result stands")
        #expect(try await statuses(pipeline, [order.orderID])[order.orderID] == ["failed"], "no second, different result")
    }
}
