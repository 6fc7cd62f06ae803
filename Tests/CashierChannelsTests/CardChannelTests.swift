import AsyncHTTPClient
import CashierChannels
import CashierCore
import CashierSandbox
import Hummingbird
import Logging
import Testing

/// The card adapter against the sandbox over real HTTP on loopback: Stripe's idempotency
/// semantics, and how each answer is classified.
@Suite struct CardChannelTests {
    static let logger = Logger(label: "card-tests")

    func request(_ orderID: String, method: String = "pm_card_visa", amount: Int64 = 9000) -> ChargeRequest {
        ChargeRequest(
            paymentID: "pay_\(orderID)", orderID: orderID, itemID: "course_7", amount: amount, currency: .cny, paymentMethod: method,
            idempotencyKey: PaymentIdentity.idempotencyKey(orderID: orderID))
    }

    func adapter(_ url: String, _ client: HTTPClient, timeout: Duration = .seconds(5), key: String = "sk_test") -> CardAdapter {
        CardAdapter(baseURL: url, apiKey: key, timeout: timeout, client: client, logger: Self.logger)
    }

    @Test func successIsReplayedForTheSameKeyWithoutASecondCharge() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, server in
            let card = adapter(url, client)
            let first = await card.charge(request("ord_a"))
            let second = await card.charge(request("ord_a"))
            guard case .succeeded(let reference) = first else { Issue.record("expected success, got \(first)"); return }
            #expect(second == .succeeded(reference: reference))
            #expect(server.card.intents.count == 1)
            #expect(server.card.intents.first?.amount == 9000)
            #expect(server.card.intents.first?.currency == "cny")
            #expect(server.card.intents.first?.orderID == "ord_a")
        }
        try await client.shutdown()
    }

    @Test func declineIsTerminalAndCarriesTheDeclineCode() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, _ in
            let outcome = await adapter(url, client).charge(request("ord_b", method: "pm_card_chargeDeclinedInsufficientFunds"))
            #expect(outcome.kind == "declined")
            #expect(outcome.reason?.code == "insufficient_funds")
        }
        try await client.shutdown()
    }

    /// The 400 `idempotency_error` says a request with this key reached the channel before: it
    /// charges nothing itself, but the earlier one may have, so it is unknown (looked up), never
    /// a decline that would end the payment `failed` while its money moved.
    @Test func sameKeyWithOtherParametersIsRefusedNeverChargedAndLookedUp() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, server in
            let card = adapter(url, client)
            guard case .succeeded(let reference) = await card.charge(request("ord_c")) else { Issue.record("the first call should charge"); return }
            let changed = await card.charge(request("ord_c", amount: 1))
            #expect(changed.kind == "unknown", "got \(changed)")
            #expect(changed.reason?.code == "idempotency_key_in_use")
            #expect(server.card.intents.count == 1)
            #expect(await card.lookup(request("ord_c"), reference: changed.reference) == .paid(reference: reference))
            // Looked up on the changed terms, the intent (9000) is not this request's charge (1),
            // by its id and by search alike; nor is it "no charge".
            for lookedUp in [await card.lookup(request("ord_c", amount: 1), reference: reference), await card.lookup(request("ord_c", amount: 1), reference: nil)] {
                guard case .paidOnOtherTerms(let found, let reason) = lookedUp else { Issue.record("a charge for another amount was believed: \(lookedUp)"); continue }
                #expect(reason.code == ChannelOutcome.termsMismatchCode && found == reference)
            }
        }
        try await client.shutdown()
    }

    @Test func timeoutIsUnknownAndTheRepeatReturnsTheSavedCharge() async throws {
        var configuration = SandboxConfiguration()
        configuration.slowAnswer = .milliseconds(1500)
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(configuration) { url, server in
            let card = adapter(url, client, timeout: .milliseconds(300))
            let first = await card.charge(request("ord_d", method: "pm_sandbox_slow"))
            #expect(first.kind == "unknown")
            #expect(first.reason?.code == "timeout")
            // On a busy machine the sandbox may see the call after our deadline: wait until it
            // has charged, then the repeat (with time to answer) must get the saved charge.
            let clock = ContinuousClock()
            let end = clock.now + .seconds(5)
            while server.card.intents.isEmpty, clock.now < end { try await Task.sleep(for: .milliseconds(20)) }
            let again = await adapter(url, client).charge(request("ord_d", method: "pm_sandbox_slow"))
            #expect(again.kind == "succeeded")
            #expect(server.card.intents.count == 1)
        }
        try await client.shutdown()
    }

    @Test func callWhileTheSameKeyIsInFlightIsUnknown() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, server in
            let card = adapter(url, client)
            async let first = card.charge(request("ord_e", method: "pm_sandbox_hold_2000"))
            try await Task.sleep(for: .milliseconds(600))  // room for a busy machine
            let concurrent = await card.charge(request("ord_e", method: "pm_sandbox_hold_2000"))
            #expect(concurrent.kind == "unknown")
            #expect(await first.kind == "succeeded")
            #expect(server.card.intents.count == 1)
        }
        try await client.shutdown()
    }

    @Test func transientErrorsAreRetryableAndNotSaved() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, server in
            let card = adapter(url, client)
            let method = "pm_sandbox_flaky_2"
            #expect(await card.charge(request("ord_f", method: method)).kind == "retryable")
            #expect(await card.charge(request("ord_f", method: method)).kind == "retryable")
            #expect(await card.charge(request("ord_f", method: method)).kind == "succeeded")
            #expect(server.card.intents.count == 1)
        }
        try await client.shutdown()
    }

    @Test func wrongAPIKeyIsNotProcessedSoTheOrderIsNotFailed() async throws {
        var configuration = SandboxConfiguration()
        configuration.cardAPIKey = "sk_right"
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(configuration) { url, server in
            let outcome = await adapter(url, client, key: "sk_wrong").charge(request("ord_g"))
            #expect(outcome.kind == "not_processed")
            #expect(server.card.intents.isEmpty)
        }
        try await client.shutdown()
    }

    @Test func unreachableChannelIsNotSent() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        // Port 9 (discard) is closed on loopback here: the connection is refused before sending.
        let outcome = await adapter("http://127.0.0.1:9", client).charge(request("ord_h"))
        #expect(outcome.kind == "not_sent")
        try await client.shutdown()
    }

    // MARK: Answers that do not settle the charge

    @Test func aStalledAnswerIsUnknownWithinTheDeadlineAndTheLookupFindsTheOneCharge() async throws {
        await TestKeys.prepare()
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, server in
            let card = adapter(url, client, timeout: .seconds(1))
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = await card.charge(request("ord_stall", method: "pm_sandbox_stall"))
            let elapsed = clock.now - started
            #expect(outcome.kind == "unknown" && outcome.reason?.code == "timeout", "\(outcome)")
            #expect(elapsed < .seconds(2), "the deadline covers the body too (took \(elapsed))")
            #expect(server.card.intents.count == 1)
            guard case .paid(let reference) = await card.lookup(request("ord_stall", method: "pm_sandbox_stall"), reference: nil) else {
                Issue.record("the stalled charge was made and must be found"); return
            }
            #expect(reference == server.card.intents.first?.id)
            // The same key replays the saved answer, whole this time.
            #expect(await card.charge(request("ord_stall", method: "pm_sandbox_stall")) == .succeeded(reference: reference))
            #expect(server.card.intents.count == 1)
        }
        try await client.shutdown()
    }

    @Test func aProcessingIntentIsUnknownWithItsIDAndSettlesByLookup() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, server in
            let card = adapter(url, client)
            let charge = request("ord_proc", method: "pm_sandbox_processing_700")
            let outcome = await card.charge(charge)
            guard case .unknown(let reason, let reference?) = outcome, reference.hasPrefix("pi_") else {
                Issue.record("expected unknown with the intent id, got \(outcome)"); return
            }
            #expect(reason.code == "processing")
            #expect(server.card.intents.map(\.status) == ["processing"])

            let early = await card.lookup(charge, reference: reference)
            guard case .unknown(let pending) = early else { Issue.record("still processing: \(early)"); return }
            #expect(pending.code == "processing")
            // A repeat with the same key replays the saved "processing" answer: no second charge.
            #expect(await card.charge(charge) == outcome)
            #expect(server.card.intents.count == 1)

            try await Task.sleep(for: .milliseconds(900))
            #expect(await card.lookup(charge, reference: reference) == .paid(reference: reference))
            #expect(await card.lookup(charge, reference: nil) == .paid(reference: reference))
            #expect(await card.charge(charge) == outcome, "Stripe replays the first answer for the key")
            #expect(server.card.intents.map(\.status) == ["succeeded"])
            let listed = try await client.execute(HTTPClientRequest(url: "\(url)/_sandbox/charges?order_id=ord_proc"), timeout: .seconds(5))
            let charges = try JSONParser.parse(Array(try await listed.body.collect(upTo: 1 << 16).readableBytesView))
            #expect(charges["count"] == .number("1") && charges["succeeded"] == .number("1"), "counted once, as succeeded")
        }
        try await client.shutdown()
    }

    @Test func aLookupByAnUnknownIntentIDIsNotPaid() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, _ in
            #expect(await adapter(url, client).lookup(request("ord_gone"), reference: "pi_doesnotexist") == .notPaid)
        }
        try await client.shutdown()
    }

    // MARK: Looking a payment up before a replay

    @Test func lookupFindsACompletedChargeByOrderAndByReference() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, server in
            let card = adapter(url, client)
            guard case .succeeded(let reference) = await card.charge(request("ord_l1")) else { Issue.record("charge failed"); return }
            #expect(await card.lookup(request("ord_l1"), reference: nil) == .paid(reference: reference))
            #expect(await card.lookup(request("ord_l1"), reference: reference) == .paid(reference: reference))
            #expect(server.card.intents.count == 1, "a lookup never charges")
        }
        try await client.shutdown()
    }

    @Test func lookupReportsNotPaidForUnchargedAndDeclinedOrders() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, _ in
            let card = adapter(url, client)
            #expect(await card.lookup(request("ord_never"), reference: nil) == .notPaid)
            _ = await card.charge(request("ord_l2", method: "pm_card_chargeDeclined"))
            #expect(await card.lookup(request("ord_l2"), reference: nil) == .notPaid)
            _ = await card.charge(request("ord_l3", method: "pm_sandbox_unavailable"))
            #expect(await card.lookup(request("ord_l3"), reference: nil) == .notPaid)
        }
        try await client.shutdown()
    }

    @Test func lookupThatCannotReachTheChannelIsUnknownNeverNotPaid() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        let answer = await adapter("http://127.0.0.1:9", client).lookup(request("ord_l4"), reference: nil)
        #expect(answer != .notPaid)
        if case .unknown = answer {} else { Issue.record("expected unknown, got \(answer)") }
        try await client.shutdown()
    }

    /// A 200 of another shape (an error object, a page a proxy or a redirect answered with)
    /// says nothing about the charge: the lookup stays unknown, never "not paid", which could end
    /// a charged order `failed`. Here the sandbox's own charge list answers (a fragment ends the
    /// base URL, so the lookup's path is not sent).
    @Test func aLookupAnsweredWithAnotherShapeIsUnknownNeverNotPaid() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox { url, _ in
            let misrouted = adapter(url + "/_sandbox/charges#", client)
            for reference in [nil, "pi_123"] {
                let answer = await misrouted.lookup(request("ord_shape"), reference: reference)
                if case .unknown = answer {} else { Issue.record("by \(reference ?? "search"): expected unknown, got \(answer)") }
            }
        }
        try await client.shutdown()
    }
}
