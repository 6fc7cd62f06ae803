import AsyncHTTPClient
@testable import CashierChannels
import CashierCore
import CashierSandbox
import Testing

/// The WeChat Pay adapter against the sandbox's v3 API over real HTTP: signed requests, verified
/// answers, accepted deductions answered pending at once and settled by a later lookup, and the
/// error table of CHANNELS.md.
@Suite struct WeChatChannelTests {
    func adapter(_ url: String, _ client: HTTPClient, configuration: WeChatConfiguration? = nil) throws -> WeChatAdapter {
        WeChatAdapter(configuration: try configuration ?? TestKeys.wechat(url), timeout: .seconds(5), client: client, logger: testLogger)
    }

    func trades(_ server: SandboxServer, _ orderID: String) -> [WeChatTrade] { server.wechat!.trades.filter { $0.orderID == orderID } }

    /// Looks the payment up until it is no longer pending, at most `within`.
    func settled(_ wechat: WeChatAdapter, _ request: ChargeRequest, within: Duration = .seconds(5)) async throws -> PaymentLookup {
        let clock = ContinuousClock()
        let end = clock.now + within
        while true {
            let answer = await wechat.lookup(request, reference: nil)
            guard case .unknown(let reason) = answer, reason.code == "pending", clock.now < end else { return answer }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func anAcceptedDeductionAnswersPendingAtOnceAndItsLookupSaysPaidOnceSettled() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let wechat = try adapter(url, client)
            _ = await wechat.lookup(chargeRequest("ord_wx_warmup", method: "wx_contract_1"), reference: nil)  // a pooled connection
            let request = chargeRequest("ord_wx_ok", method: "wx_contract_slow_600")
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = await wechat.charge(request)
            let elapsed = clock.now - started
            #expect(outcome.kind == "unknown" && outcome.reason?.code == "pending", "\(outcome)")
            #expect(elapsed < .milliseconds(200), "an accepted deduction is never waited for inside the call (took \(elapsed))")
            #expect(trades(server, "ord_wx_ok").map(\.total) == [9000])

            let early = await wechat.lookup(request, reference: nil)
            #expect(early.isPending, "still pending right after the apply: \(early)")
            guard case .paid(let transactionID) = try await settled(wechat, request) else { Issue.record("never settled"); return }
            #expect(transactionID == trades(server, "ord_wx_ok").first?.transactionID)
            // A repeat queries first and never deducts again.
            var repeated = request
            repeated.attempt = 2
            #expect(await wechat.charge(repeated) == .succeeded(reference: transactionID))
            #expect(trades(server, "ord_wx_ok").count == 1)
        }
        try await client.shutdown()
    }

    @Test func aPaidTransactionOnOtherTermsIsNeitherThisPaymentsChargeNorNoCharge() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let wechat = try adapter(url, client)
            let request = chargeRequest("ord_wx_terms", method: "wx_contract_1")
            _ = await wechat.charge(request)
            guard case .paid(let transactionID) = try await settled(wechat, request) else { Issue.record("never settled"); return }
            // Another amount under the same out_trade_no (the transaction is for 9000 fen).
            var otherAmount = request
            otherAmount.amount = 100
            guard case .paidOnOtherTerms(transactionID, let reason) = await wechat.lookup(otherAmount, reference: nil) else { Issue.record("another amount was believed"); return }
            #expect(reason.code == ChannelOutcome.termsMismatchCode && reason.message.contains("amount 90.00, ours 1.00"), "\(reason)")
            otherAmount.attempt = 2
            #expect(await wechat.charge(otherAmount).reason?.code == ChannelOutcome.termsMismatchCode, "a repeat asks first, and does not believe it either")
            // A transaction for another app of ours is not this payment's charge either.
            var configuration = try TestKeys.wechat(url)
            configuration.appid = "wx_another_app"
            guard case .paidOnOtherTerms(_, let appReason) = await (try adapter(url, client, configuration: configuration)).lookup(request, reference: nil) else {
                Issue.record("another app's transaction was believed"); return
            }
            #expect(appReason.code == ChannelOutcome.termsMismatchCode && appReason.message.contains("appid"), "\(appReason)")
            #expect(await wechat.lookup(request, reference: nil) == .paid(reference: transactionID), "on its own terms it is the charge")
            #expect(trades(server, "ord_wx_terms").count == 1)
        }
        try await client.shutdown()
    }

    @Test func aRepeatWhileTheDeductionIsPendingQueriesAndStaysPendingWithoutASecondDeduction() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let wechat = try adapter(url, client)
            let first = await wechat.charge(chargeRequest("ord_wx_slow", method: "wx_contract_slow_800"))
            #expect(first.kind == "unknown" && first.reason?.code == "pending")
            let second = await wechat.charge(chargeRequest("ord_wx_slow", method: "wx_contract_slow_800", attempt: 2))
            #expect(second.kind == "unknown" && second.reason?.code == "pending")
            try await Task.sleep(for: .seconds(1))
            #expect(await wechat.charge(chargeRequest("ord_wx_slow", method: "wx_contract_slow_800", attempt: 3)).kind == "succeeded")
            #expect(trades(server, "ord_wx_slow").count == 1)
        }
        try await client.shutdown()
    }

    @Test func aLookupOfANeverCreatedDeductionIsNotPaid() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, _ in
            let wechat = try adapter(url, client)
            #expect(await wechat.lookup(chargeRequest("ord_wx_never", method: "wx_contract_1"), reference: nil) == .notPaid)
        }
        try await client.shutdown()
    }

    @Test func insufficientBalanceIsADeclineAndServerErrorsAreUnknownThenRetried() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let wechat = try adapter(url, client)
            let declined = await wechat.charge(chargeRequest("ord_wx_poor", method: "wx_contract_notenough"))
            #expect(declined.kind == "declined" && declined.reason?.code == "NOTENOUGH")
            let busy = await wechat.charge(chargeRequest("ord_wx_busy", method: "wx_contract_unavailable_1"))
            #expect(busy.kind == "unknown" && busy.reason?.code == "SYSTEM_ERROR")
            // The repeat queries (nothing there), applies, and is accepted: pending, then paid.
            let again = chargeRequest("ord_wx_busy", method: "wx_contract_unavailable_1", attempt: 2)
            let accepted = await wechat.charge(again)
            #expect(accepted.kind == "unknown" && accepted.reason?.code == "pending")
            if case .paid = try await settled(wechat, again) {} else { Issue.record("the accepted deduction never settled") }
            #expect(trades(server, "ord_wx_busy").count == 1)
        }
        try await client.shutdown()
    }

    @Test func answersSignedWithAnotherKeyAreNotBelieved() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, _ in
            var configuration = try TestKeys.wechat(url)
            // We expect the platform key under this serial, but hold a different key.
            configuration.platformKeys = [SandboxKeys.wechatPlatformSerial: try RSAKeys.loadPublicKey(file: TestKeys.file(SandboxKeys.File.alipayPlatformPublic), setting: "test")]
            let outcome = try await adapter(url, client, configuration: configuration).charge(chargeRequest("ord_wx_forged", method: "wx_contract_1"))
            #expect(outcome.kind == "unknown" && outcome.reason?.code == "wechat_unverified_answer")
        }
        try await client.shutdown()
    }

    @Test func tradeStatesFollowTheContract() {
        for state in ["SUCCESS", "REFUND"] { #expect(WeChatClassifier.tradeState(state, transactionID: "42") == .paid("42")) }
        for state in ["USERPAYING", "NOTPAY"] { #expect(WeChatClassifier.tradeState(state, transactionID: nil) == .pending) }
        for state in ["CLOSED", "REVOKED", "PAYERROR"] {
            guard case .failed = WeChatClassifier.tradeState(state, transactionID: nil) else { Issue.record("\(state) is a failed trade"); continue }
        }
        guard case .unknown = WeChatClassifier.tradeState("SOMETHING_NEW", transactionID: nil) else { Issue.record("an unknown state is unknown"); return }
    }

    @Test func errorTableFollowsTheContract() {
        #expect(WeChatClassifier.error(status: 429, code: "FREQUENCY_LIMITED", message: nil).kind == "not_processed")
        for status in [500, 502, 503] { #expect(WeChatClassifier.error(status: status, code: "SYSTEM_ERROR", message: nil).kind == "unknown") }
        for (status, code) in [(400, "PARAM_ERROR"), (400, "INVALID_REQUEST"), (400, "ORDER_CLOSED"), (401, "SIGN_ERROR"), (403, "NOTENOUGH"),
                               (403, "TRADE_ERROR"), (403, "RULE_LIMIT"), (403, "ACCOUNT_ERROR"), (403, "NO_AUTH")] {
            #expect(WeChatClassifier.error(status: status, code: code, message: nil).kind == "declined", "\(code)")
        }
        // The trade exists: its fate is for the query, never a buyer-visible failure.
        #expect(WeChatClassifier.error(status: 400, code: "OUT_TRADE_NO_USED", message: nil).kind == "unknown")
    }
}

extension PaymentLookup {
    var isPending: Bool { if case .unknown(let reason) = self { reason.code == "pending" } else { false } }
}
