import CashierCore
import Foundation
import Kafka
import Testing

/// The failure paths of DESIGN.md section 6, end to end through `cashier retry-worker`, with
/// the sandbox's fault injection: transient failures, declines, exhaustion, unknown outcomes,
/// and a retry worker killed while its retries wait.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct RetryEndToEndTests {
    @Test func transientFailuresAreRetriedIntoExactlyOneChargeWithinTheBackoffBounds() async throws {
        let pipeline = try await Pipeline.shared()
        // The channel answers 503 to the first two calls of each of these orders.
        let orders = (0..<6).map { pipeline.order("flaky\($0)", paymentMethod: "pm_sandbox_flaky_2") }
        for order in orders { try await pipeline.publish(order) }
        try await pipeline.waitForTerminal(orders.map(\.orderID), timeout: .seconds(60))

        let policy = Pipeline.retryPolicy
        for order in orders {
            #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
            #expect(try await pipeline.payment(order.orderID)?.attempts == 3)
            let charges = try await pipeline.charges(order.orderID)
            #expect(charges.count == 1 && charges[0].key == PaymentIdentity.idempotencyKey(orderID: order.orderID))
            let attempts = try await pipeline.attempts(order.orderID)
            #expect(attempts.map(\.outcome) == ["retryable", "retryable", "succeeded"])
            // The k-th retry starts between ½·d and d after the call before it ended (plus the
            // schedule's polling and the hand-over through the retry topic).
            for k in 1..<attempts.count {
                guard let ended = attempts[k - 1].finished else { continue }
                let waited = Int64(attempts[k].started.timeIntervalSince(ended) * 1000)
                let ceiling = policy.ceilingMilliseconds(retry: k)
                #expect(waited >= ceiling / 2 - 50, "retry \(k) of \(order.orderID) started after \(waited) ms")
                #expect(waited <= ceiling + 1500, "retry \(k) of \(order.orderID) started after \(waited) ms")
            }
        }
        let results = try await pipeline.results(for: Set(orders.map(\.orderID)), atLeast: orders.count)
        for order in orders {
            #expect(results[order.orderID]?.count == 1)
            #expect(results[order.orderID]?.first?["status"] == .string("succeeded"))
            #expect(results[order.orderID]?.first?["attempts"] == .number("3"))
        }
    }

    /// A channel the order worker cannot reach costs no attempt (invariant 7): under a policy
    /// of one call, the order still waits, and is charged once the channel answers again.
    @Test func anUnreachableChannelCostsNoAttemptAndTheOrderIsChargedWhenItIsBack() async throws {
        let pipeline = try await Pipeline.shared()
        let stage = try await Stage()
        var unreachable = stage.environment
        unreachable["CASHIER_CARD_URL"] = "http://127.0.0.1:9"
        let worker = try CashierProcess(
            "stage-worker-unreachable", Pipeline.workerArguments(brokers: stage.brokers, group: stage.group) + ["--retry-max-attempts", "1"],
            environment: unreachable)
        try await eventually("the worker to join its group") { worker.log.contains("partitions assigned") }
        let order = pipeline.order("unreachable_back")
        try await stage.publish(order)
        try await eventually("the payment to wait on the retry schedule, uncalled", timeout: .seconds(30)) {
            try await pipeline.paymentState(order.orderID, on: stage) == "retry_scheduled"
        }
        #expect(try await pipeline.attempts(order.orderID, on: stage).allSatisfy { $0.outcome == "not_sent" }, "a charge that never left is no call")
        // The channel is back (a retry worker that reaches it): one call, one charge.
        let retry = try await stage.retryWorker(arguments: ["--retry-max-attempts", "1"])
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(30), on: stage)
        #expect(try await pipeline.paymentState(order.orderID, on: stage) == "succeeded")
        #expect(try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count == 1)
        #expect(try await pipeline.attempts(order.orderID, on: stage).last?.outcome == "succeeded")
        let result = try await pipeline.results(for: [order.orderID], atLeast: 1, on: stage)[order.orderID]?.first
        #expect(result?["attempts"] == .number("1"), "one call sent: \(String(describing: result))")
        worker.signal(SIGTERM)
        retry.signal(SIGTERM)
    }

    @Test func declinesAreSettledAfterOneCallAndNeverRetried() async throws {
        let pipeline = try await Pipeline.shared()
        let order = pipeline.order("declined", paymentMethod: "pm_card_chargeDeclinedInsufficientFunds")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        let payment = try await pipeline.payment(order.orderID)
        #expect(payment?.state == "failed" && payment?.attempts == 1 && payment?.reason == "insufficient_funds")
        #expect(try await pipeline.charges(order.orderID).count == 1)
        #expect(try await pipeline.count("SELECT count(*)::integer FROM outbox WHERE kind = 'retry' AND message_key = '\(order.orderID)'") == 0)
        #expect(try await pipeline.count("SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)'") == 0)
    }

    @Test func exhaustedRetriesAreDeadLetteredWithAFailedResult() async throws {
        let pipeline = try await Pipeline.shared()
        let order = pipeline.order("exhausted", paymentMethod: "pm_sandbox_unavailable")
        let origin = try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])

        let payment = try await pipeline.payment(order.orderID)
        #expect(payment?.state == "failed" && payment?.attempts == 4 && payment?.reason == "retries_exhausted")
        #expect(try await pipeline.charges(order.orderID).isEmpty)
        #expect(try await pipeline.count(
            """
            SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'retries_exhausted'
              AND attempts = 4 AND status = 'open' AND source_partition = \(origin.partition) AND source_offset = \(origin.offset)
            """) == 1)

        let results = try await pipeline.results(for: [order.orderID], atLeast: 1)
        let result = results[order.orderID]?.first
        #expect(result?["status"] == .string("failed"))
        #expect(result?["reason"]?["code"] == .string("retries_exhausted"))
        guard case .string(let message)? = result?["reason"]?["message"] else { throw TestFailure("result without a reason message") }
        #expect(message.contains("service_unavailable"), "the last channel error is named: \(message)")

        let letters = try await pipeline.results(for: [order.orderID], atLeast: 1, topic: "payments.dlq")
        let letter = letters[order.orderID]?.first
        #expect(letter?["attempts"] == .number("4"))
        #expect(letter?["last_error"]?["code"] == .string("service_unavailable"))
        #expect(letter?["source"]?["topic"] == .string("orders.created"))
        #expect(letter?["source"]?["offset"] == .number(String(origin.offset)))
    }

    /// The channel charges, then answers 500 to every call with the key (Stripe saves a server
    /// error for the key and replays it). All four attempts are answered 500; the last one,
    /// which says nothing about the money, is looked up, not exhausted: the search finds the
    /// charge and the order ends succeeded, one charge, no `failed` result ever published.
    @Test func aServerErrorOnTheLastAttemptIsLookedUpAndTheChargeFound() async throws {
        let pipeline = try await Pipeline.shared()
        let order = pipeline.order("charged500", paymentMethod: "pm_sandbox_charged_500")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(90))
        let payment = try await pipeline.payment(order.orderID)
        #expect(payment?.state == "succeeded" && payment?.attempts == 4, "\(String(describing: payment))")
        #expect(try await pipeline.charges(order.orderID).count == 1)
        #expect(try await pipeline.attempts(order.orderID).map(\.outcome) == ["retryable", "retryable", "retryable", "retryable"])
        let results = try await pipeline.results(for: [order.orderID], atLeast: 1)[order.orderID] ?? []
        #expect(results.map { $0["status"] } == [.string("succeeded")], "no failed result was ever published: \(results)")
        #expect(try await pipeline.count("SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)'") == 0)
    }

    @Test func unknownOutcomesAreResolvedWithoutASecondCharge() async throws {
        let pipeline = try await Pipeline.shared()
        // The channel holds the call 3 s before charging: the first call times out (2 s), so the
        // payment is looked up (never failed) until the channel shows the one charge.
        let order = pipeline.order("unknown", paymentMethod: "pm_sandbox_hold_3000")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
        #expect(try await pipeline.charges(order.orderID).count == 1)
        let outcomes = try await pipeline.attempts(order.orderID).map(\.outcome)
        #expect(outcomes.first == "unknown", "\(outcomes)")
        let failed = try await pipeline.results(for: [order.orderID], atLeast: 1)[order.orderID]?.filter { $0["status"] == .string("failed") }
        #expect(failed?.isEmpty ?? true, "no failed result was ever published")
    }

    @Test func retryWorkerKilledWhileRetriesWaitKeepsEverySchedule() async throws {
        let pipeline = try await Pipeline.shared()
        // Three failures each: retries wait about 0.3 s, 0.6 s and 1.2 s.
        let orders = (0..<8).map { pipeline.order("rkill\($0)", paymentMethod: "pm_sandbox_flaky_3") }
        for order in orders { try await pipeline.publish(order) }
        let ids = orders.map(\.orderID)
        let inList = "order_id = ANY('{\(ids.joined(separator: ","))}')"
        try await eventually("every order on the retry schedule, and the retries under way") {
            let scheduled = try await pipeline.count("SELECT count(*)::integer FROM payments WHERE \(inList) AND retry_due_at IS NOT NULL")
            let retried = try await pipeline.count("SELECT count(*)::integer FROM payments WHERE \(inList) AND attempts >= 2")
            return scheduled == ids.count && retried > 0
        }
        let victim = pipeline.retryWorker
        victim.signal(SIGKILL)
        _ = await victim.waitForExit(timeout: .seconds(5))
        // While it is down nothing moves; the schedule waits in Postgres.
        try await Task.sleep(for: .seconds(2))
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM payments WHERE \(inList) AND state = 'retry_scheduled'") == ids.count)

        let restarted = try pipeline.restartRetryWorker()
        try await pipeline.waitForTerminal(ids, timeout: .seconds(90))
        for order in orders {
            #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
            #expect(try await pipeline.charges(order.orderID).count == 1, "\(order.orderID)")
        }
        try await eventually("the new retry worker to join") { restarted.log.contains("partitions assigned") }

        // A graceful stop is clean too, and a fresh retry worker takes over for the other tests.
        restarted.signal(SIGTERM)
        let status = await restarted.waitForExit(timeout: .seconds(30))
        #expect(status == 0, "retry worker log:\n\(restarted.log.suffix(2000))")
        let next = try pipeline.restartRetryWorker()
        try await eventually("a fresh retry worker to join") { next.log.contains("partitions assigned") }
    }

    @Test func anUnreadableRetryMessageIsDeadLetteredAndTheLineMovesOn() async throws {
        let pipeline = try await Pipeline.shared()
        let garbage = Array("retry me maybe \(pipeline.runID)".utf8)
        let report = try await pipeline.producer.send(OutgoingMessage(topic: "payments.retry", key: nil, value: garbage))
        let origin = EventOrigin(topic: "payments.retry", partition: report.partition, offset: report.offset, value: garbage)
        try await eventually("the unreadable retry message to be dead-lettered") {
            try await pipeline.count(
                """
                SELECT count(*)::integer FROM dead_letters WHERE reason_code = 'invalid_retry_message'
                  AND source_topic = 'payments.retry' AND source_offset = \(origin.offset) AND source_digest = '\(origin.digest)'
                """) == 1
        }
        // A retry handed over after it is still carried out.
        let order = pipeline.order("after_garbage", paymentMethod: "pm_sandbox_flaky_1")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
        #expect(pipeline.retryWorker.isRunning)
        let deadLettered = pipeline.retryWorker.log.components(separatedBy: "unreadable retry message dead-lettered").count - 1
        #expect(deadLettered == 1, "read once, committed, never again")
    }

    /// A Postgres outage longer than `max.poll.interval.ms` drops the retry intake from its group
    /// while it retries a batch (it does not poll meanwhile). Once Postgres is back the intake
    /// stores the batch, polls, rejoins, and reads on.
    @Test func aRetryIntakeDroppedFromItsGroupByAnOutageRejoinsAndReadsOn() async throws {
        let pipeline = try await Pipeline.shared()
        let postgres = try await OwnPostgres.start("intake")
        defer { postgres.stop() }
        let stage = try await Stage(databaseURL: postgres.url)
        let retry = try await stage.retryWorker(arguments: ["--kafka-option", "max.poll.interval.ms=6000"])
        func sendUnreadable(_ text: String) async throws -> String {
            _ = try await stage.producer.send(OutgoingMessage(topic: "payments.retry", key: nil, value: Array(text.utf8)))
            return text
        }
        try await postgres.pause()
        // Its dead letter needs Postgres: the intake retries the batch for the whole outage.
        let during = try await sendUnreadable("unreadable during the outage")
        try await eventually("the intake to retry its batch") { retry.log.contains("retry intake failed, will retry the same batch") }
        try await Task.sleep(for: .seconds(10))
        try await postgres.resume()
        let after = try await sendUnreadable("unreadable after the outage")
        try await eventually("both unreadable messages to be dead-lettered", timeout: .seconds(60)) {
            let rows = try await stage.db.query(
                """
                SELECT count(DISTINCT payload)::integer FROM dead_letters
                WHERE reason_code = 'invalid_retry_message' AND payload = ANY(\([during, after]))
                """, logger: pipeline.logger)
            for try await count in rows.decode(Int.self) { return count == 2 }
            return false
        }
        #expect(retry.isRunning)
        retry.signal(SIGTERM)
        _ = await retry.waitForExit(timeout: .seconds(30))
    }
}
