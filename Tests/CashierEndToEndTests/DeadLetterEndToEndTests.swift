import CashierCore
import Foundation
import Testing

/// `cashier dlq` against the running pipeline: operators list, inspect, replay and discard
/// dead letters, and a replay never charges twice.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct DeadLetterEndToEndTests {
    func dlq(_ pipeline: Pipeline, _ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        try await CashierProcess.run(["dlq"] + arguments, environment: Pipeline.workerEnvironment(pipeline.sandboxURL))
    }

    func letterID(_ pipeline: Pipeline, _ orderID: String) async throws -> Int {
        try await pipeline.count("SELECT id::integer FROM dead_letters WHERE order_id = '\(orderID)' AND reason_code = 'retries_exhausted'")
    }

    @Test func replayAfterTheChannelRecoversChargesOnceAndASecondReplayChangesNothing() async throws {
        let pipeline = try await Pipeline.shared()
        // 503 for the first four calls: all four attempts fail, the fifth call (the replay) succeeds.
        let order = pipeline.order("replay", paymentMethod: "pm_sandbox_flaky_4")
        try await pipeline.publish(order)
        try await eventually("the order to be dead-lettered") { try await letterID(pipeline, order.orderID) > 0 }
        let id = try await letterID(pipeline, order.orderID)

        let listed = try await dlq(pipeline, ["list", "--json", "--reason", "retries_exhausted", "--channel", "card"])
        #expect(listed.status == 0, "\(listed.err)")
        guard case .array(let letters) = try JSONParser.parse(Array(listed.out.utf8)) else { throw TestFailure("list --json is not an array") }
        let entry = letters.first { $0["order_id"] == .string(order.orderID) }
        #expect(entry?["id"] == .number(String(id)))
        #expect(entry?["attempts"] == .number("4") && entry?["status"] == .string("open") && entry?["channel"] == .string("card"))
        #expect(entry?["reason"]?["code"] == .string("retries_exhausted"))

        let shown = try await dlq(pipeline, ["show", String(id)])
        #expect(shown.status == 0 && shown.out.contains("#4") && shown.out.contains("service_unavailable"), "\(shown.out)\(shown.err)")

        // A dry run asks the channel but changes nothing.
        let before = try await snapshot(pipeline, order.orderID)
        let dry = try await dlq(pipeline, ["replay", "--order-id", order.orderID, "--dry-run"])
        #expect(dry.status == 0 && dry.out.contains("would charge"), "\(dry.out)\(dry.err)")
        #expect(try await snapshot(pipeline, order.orderID) == before)
        #expect(try await pipeline.charges(order.orderID).isEmpty)

        let replay = try await dlq(pipeline, ["replay", "--order-id", order.orderID, "--actor", "e2e-operator", "--reason", "channel recovered"])
        #expect(replay.status == 0 && replay.out.contains("charged"), "\(replay.out)\(replay.err)")
        #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
        let charges = try await pipeline.charges(order.orderID)
        #expect(charges.count == 1 && charges[0].key == PaymentIdentity.idempotencyKey(orderID: order.orderID))
        #expect(try await pipeline.count(
            """
            SELECT count(*)::integer FROM dead_letter_actions WHERE dead_letter_id = \(id) AND action = 'replay'
              AND actor = 'e2e-operator' AND reason = 'channel recovered' AND outcome = 'charged' AND finished_at IS NOT NULL
            """) == 1)
        let results = try await pipeline.results(for: [order.orderID], atLeast: 1)
        try await eventually("the succeeded result to be published") {
            let events = try await pipeline.results(for: [order.orderID], atLeast: 1)[order.orderID] ?? []
            return events.contains { $0["status"] == .string("succeeded") }
        }
        _ = results

        let again = try await dlq(pipeline, ["replay", "--id", String(id), "--actor", "e2e-operator"])
        #expect(again.status == 0 && again.out.contains("already succeeded") && again.out.contains("nothing changed"), "\(again.out)\(again.err)")
        #expect(try await pipeline.charges(order.orderID).count == 1)
    }

    @Test func aChargeTheChannelCompletesLateIsFoundByLookupAndNeverReportedFailed() async throws {
        let pipeline = try await Pipeline.shared()
        // The channel holds the call 8 s: every call times out or finds the key in flight, and
        // every lookup finds nothing yet. Once the calls are spent it is still never `failed`:
        // "no charge" is believed only after the last call had time to finish.
        let order = pipeline.order("latecharge", paymentMethod: "pm_sandbox_hold_8000")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(60))
        #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
        #expect(try await pipeline.charges(order.orderID).count == 1)
        #expect(try await letterID(pipeline, order.orderID) == 0, "never dead-lettered")
        let results = try await pipeline.results(for: [order.orderID], atLeast: 1)[order.orderID] ?? []
        #expect(results.allSatisfy { $0["status"] == .string("succeeded") }, "no failed result, ever")
    }

    @Test func anOutcomeUnknownPastTheHorizonIsParkedAndAReplayResolvesItByLookup() async throws {
        let pipeline = try await Pipeline.shared()
        // Unknown for longer than a 1 s horizon: the card intent stays `processing` for 8 s.
        let stage = try await Stage(environment: ["CASHIER_UNKNOWN_HORIZON_MS": "1000"])
        let worker = try await stage.worker()
        let retry = try await stage.retryWorker()
        let order = pipeline.order("parked", paymentMethod: "pm_sandbox_processing_8000")
        try await stage.publish(order)
        try await eventually("the payment to be parked as outcome_unknown", timeout: .seconds(30)) {
            try await pipeline.count(
                "SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'outcome_unknown' AND status = 'open'",
                on: stage) == 1
        }
        #expect(try await pipeline.paymentState(order.orderID, on: stage) == "resolving", "parked, not failed")
        #expect(try await pipeline.results(for: [order.orderID], atLeast: 1, timeout: .seconds(2), on: stage).isEmpty, "no result yet")
        try await eventually("the channel to complete the charge", timeout: .seconds(20)) {
            try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).first?.status == "succeeded"
        }
        let id = try await pipeline.count(
            "SELECT id::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'outcome_unknown'", on: stage)
        let replay = try await CashierProcess.run(["dlq", "replay", "--id", String(id), "--reason", "look it up"], environment: stage.environment)
        #expect(replay.0 == 0 && replay.1.contains("found_paid"), "\(replay.1)\(replay.2)")
        #expect(try await pipeline.paymentState(order.orderID, on: stage) == "succeeded")
        #expect(try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count == 1)
        worker.signal(SIGTERM)
        retry.signal(SIGTERM)
    }

    /// A parked payment is never looked up again, so a charge on other terms that appears later
    /// is found only by a replay: the letter then says `terms_mismatch`, and the next replay of
    /// it, named, accepts the charge (before, every replay answered "not confirmed" for ever).
    @Test func aParkedPaymentWhoseChargeTurnsOutOnOtherTermsCanBeAcceptedByReplay() async throws {
        let pipeline = try await Pipeline.shared()
        let stage = try await Stage(environment: ["CASHIER_UNKNOWN_HORIZON_MS": "1000"])
        let worker = try await stage.worker()
        let retry = try await stage.retryWorker()
        let order = pipeline.order("parked_terms", paymentMethod: "pm_sandbox_processing_8000")
        try await stage.publish(order)
        try await eventually("the payment to be parked as outcome_unknown", timeout: .seconds(30)) {
            try await pipeline.count(
                "SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'outcome_unknown' AND status = 'open'",
                on: stage) == 1
        }
        try await eventually("the channel to complete the charge", timeout: .seconds(20)) {
            try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).first?.status == "succeeded"
        }
        // A stand-in for a channel record on other terms: the order's price is changed in our
        // database, so the channel's 90.00 charge is not this payment's (now 180.00).
        #expect(try await pipeline.count(
            "WITH changed AS (UPDATE orders SET price = 20000 WHERE order_id = '\(order.orderID)' RETURNING 1) SELECT count(*)::integer FROM changed",
            on: stage) == 1)
        let id = try await pipeline.count(
            "SELECT id::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'outcome_unknown'", on: stage)
        let first = try await CashierProcess.run(["dlq", "replay", "--id", String(id), "--reason", "look it up"], environment: stage.environment)
        #expect(first.0 == 0 && first.1.contains("not_confirmed"), "\(first.1)\(first.2)")
        #expect(try await pipeline.paymentState(order.orderID, on: stage) == "resolving")
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM dead_letters WHERE id = \(id) AND reason_code = 'terms_mismatch' AND status = 'open'", on: stage) == 1)
        let second = try await CashierProcess.run(["dlq", "replay", "--id", String(id), "--reason", "accept the charge"], environment: stage.environment)
        #expect(second.0 == 0 && second.1.contains("accepted by the operator"), "\(second.1)\(second.2)")
        #expect(try await pipeline.paymentState(order.orderID, on: stage) == "succeeded")
        #expect(try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count == 1)
        worker.signal(SIGTERM)
        retry.signal(SIGTERM)
    }

    @Test func aReplayKilledAfterItsCallWasSentEndsSucceededByLookupWithOneCharge() async throws {
        let pipeline = try await Pipeline.shared()
        // The stage's sandbox makes a `pm_sandbox_slow` charge at once and answers 30 s later.
        let stage = try await Stage(sandbox: ["--slow-answer-ms", "30000"])
        // Neither worker can reach the card channel: no call is ever sent, so none is an
        // attempt; past the 2 s unsent horizon the order ends `failed` (nothing was charged),
        // dead-lettered — by time, not by a count of refused calls.
        var unreachable = stage.environment
        unreachable["CASHIER_CARD_URL"] = "http://127.0.0.1:9"
        unreachable["CASHIER_UNSENT_HORIZON_MS"] = "2000"
        let worker = try CashierProcess(
            "stage-worker-unreachable", Pipeline.workerArguments(brokers: stage.brokers, group: stage.group) + ["--retry-max-attempts", "1"],
            environment: unreachable)
        try await eventually("the worker to join its group") { worker.log.contains("partitions assigned") }
        let unreachableRetry = try CashierProcess(
            "stage-retry-unreachable", Pipeline.retryWorkerArguments(brokers: stage.brokers, group: stage.group + "-retry"),
            environment: unreachable)
        try await eventually("the retry worker to join its group") { unreachableRetry.log.contains("partitions assigned") }
        let order = pipeline.order("replay_killed", paymentMethod: "pm_sandbox_slow")
        try await stage.publish(order)
        let letterQuery = "SELECT id::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'retries_exhausted'"
        try await eventually("the order to be dead-lettered", timeout: .seconds(30)) { try await pipeline.count(letterQuery, on: stage) > 0 }
        #expect(try await pipeline.paymentState(order.orderID, on: stage) == "failed")
        let failed = try await pipeline.results(for: [order.orderID], atLeast: 1, on: stage)[order.orderID]?.first
        #expect(failed?["attempts"] == .number("0"), "no call was sent: \(String(describing: failed))")
        #expect(worker.log.contains("payment deferred without a call"), "the worker's try was no attempt")
        let id = try await pipeline.count(letterQuery, on: stage)
        // From here on the retry worker reaches the channel (for the lookups below).
        unreachableRetry.signal(SIGTERM)
        #expect(await unreachableRetry.waitForExit(timeout: .seconds(30)) != nil)
        let retry = try await stage.retryWorker()

        // The replay reaches the channel, which charges; it is killed before the answer comes.
        var replayEnvironment = stage.environment
        replayEnvironment["CASHIER_CHANNEL_TIMEOUT_MS"] = "20000"
        let replay = try CashierProcess(
            "stage-replay", ["dlq", "replay", "--id", String(id), "--actor", "e2e-killed", "--reason", "killed mid-call"],
            environment: replayEnvironment)
        try await eventually("the replay's call to charge", timeout: .seconds(20)) {
            try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count == 1
        }
        replay.signal(SIGKILL)
        #expect(await replay.waitForExit(timeout: .seconds(10)) != nil)
        // Since its call was sent the payment is `resolving`, not `failed`, with attempt 2 open.
        #expect(try await pipeline.paymentState(order.orderID, on: stage) == "resolving")
        // Tries whose charge never left keep their rows (`not_sent`): they are no calls.
        let open = try await pipeline.attempts(order.orderID, on: stage)
        #expect(open.dropLast().allSatisfy { $0.outcome == "not_sent" } && open.last?.finished == nil, "\(open)")

        // Once the replay's lease lapses the retry worker looks it up and finds the charge.
        try await eventually("the payment to succeed by lookup", timeout: .seconds(90)) {
            try await pipeline.paymentState(order.orderID, on: stage) == "succeeded"
        }
        #expect(try await pipeline.charges(order.orderID, sandbox: stage.sandboxURL).count == 1, "one charge")
        let attempts = try await pipeline.attempts(order.orderID, on: stage).filter { $0.outcome != "not_sent" }
        #expect(attempts.count == 1 && attempts.last?.outcome == "interrupted", "\(attempts)")
        #expect(try await pipeline.count(
            """
            SELECT count(*)::integer FROM dead_letter_actions WHERE dead_letter_id = \(id) AND actor = 'e2e-killed'
              AND outcome = 'started' AND finished_at IS NULL
            """, on: stage) == 1, "the killed replay's audit row shows it never finished")
        try await eventually("the succeeded result to follow the failed one", timeout: .seconds(30)) {
            let statuses = (try await pipeline.results(for: [order.orderID], atLeast: 1, timeout: .seconds(5), on: stage)[order.orderID] ?? [])
                .compactMap { if case .string(let status)? = $0["status"] { status } else { nil } }
            return statuses == ["failed", "succeeded"]
        }
        worker.signal(SIGTERM)
        retry.signal(SIGTERM)
    }

    @Test func replayingManyNeedsConfirmationAndDiscardIsAudited() async throws {
        let pipeline = try await Pipeline.shared()
        let orders = (0..<2).map { pipeline.order("many_dlq\($0)", paymentMethod: "pm_sandbox_unavailable") }
        for order in orders { try await pipeline.publish(order) }
        for order in orders {
            try await eventually("\(order.orderID) to be dead-lettered") { try await letterID(pipeline, order.orderID) > 0 }
        }
        let refused = try await dlq(pipeline, ["replay", "--order-id"] + orders.map(\.orderID))
        #expect(refused.status != 0 && refused.err.contains("no terminal is attached; pass --yes"), "\(refused.err)")
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM dead_letter_actions WHERE order_id IN ('\(orders[0].orderID)', '\(orders[1].orderID)')") == 0)

        let id = try await letterID(pipeline, orders[0].orderID)
        let noReason = try await dlq(pipeline, ["discard", String(id)])
        #expect(noReason.status != 0 && noReason.err.contains("--reason"))
        let discarded = try await dlq(pipeline, ["discard", String(id), "--reason", "buyer cancelled", "--actor", "e2e"])
        #expect(discarded.status == 0 && discarded.out.contains("discarded"), "\(discarded.err)")
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM dead_letter_actions WHERE dead_letter_id = \(id) AND action = 'discard' AND actor = 'e2e'") == 1)
        let replayDiscarded = try await dlq(pipeline, ["replay", "--id", String(id)])
        #expect(replayDiscarded.out.contains("discarded; nothing changed"), "\(replayDiscarded.out)\(replayDiscarded.err)")
        #expect(try await pipeline.charges(orders[0].orderID).isEmpty)

        let badStatus = try await dlq(pipeline, ["list", "--status", "closed"])
        #expect(badStatus.status != 0 && badStatus.err.contains("use open, replayed, discarded or all"))
        let badSince = try await dlq(pipeline, ["list", "--since", "yesterday"])
        #expect(badSince.status != 0 && badSince.err.contains("--since yesterday"))
    }

    /// Everything a dry run must leave alone.
    func snapshot(_ pipeline: Pipeline, _ orderID: String) async throws -> [Int] {
        [
            try await pipeline.count("SELECT count(*)::integer FROM payment_attempts a JOIN payments p USING (payment_id) WHERE p.order_id = '\(orderID)'"),
            try await pipeline.count("SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(orderID)' AND status = 'open'"),
            try await pipeline.count("SELECT count(*)::integer FROM dead_letter_actions WHERE order_id = '\(orderID)'"),
            try await pipeline.count("SELECT count(*)::integer FROM payments WHERE order_id = '\(orderID)' AND state = 'failed' AND lease_until IS NULL"),
            try await pipeline.count("SELECT count(*)::integer FROM outbox WHERE message_key = '\(orderID)'"),
        ]
    }
}
