import AsyncHTTPClient
import CashierChannels
import CashierCore
import CashierSandbox
import Testing

/// The WeChat Pay adapter against the sandbox's v3 API over real HTTP: signed requests, verified
/// answers, pending deductions settled by query, and the error table of CHANNELS.md.
@Suite struct WeChatChannelTests {
    func adapter(_ url: String, _ client: HTTPClient, configuration: WeChatConfiguration? = nil) throws -> WeChatAdapter {
        WeChatAdapter(configuration: try configuration ?? TestKeys.wechat(url), timeout: .seconds(5), client: client, logger: testLogger)
    }

    func trades(_ server: SandboxServer, _ orderID: String) -> [WeChatTrade] { server.wechat!.trades.filter { $0.orderID == orderID } }

    @Test func anAcceptedDeductionIsPendingUntilTheQuerySaysSuccess() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let wechat = try adapter(url, client)
            let outcome = await wechat.charge(chargeRequest("ord_wx_ok", method: "wx_contract_1"))
            guard case .succeeded(let transactionID) = outcome else { Issue.record("expected success, got \(outcome)"); return }
            #expect(trades(server, "ord_wx_ok").map(\.total) == [9000])
            #expect(await wechat.lookup(chargeRequest("ord_wx_ok", method: "wx_contract_1"), reference: nil) == .paid(reference: transactionID))
            #expect(await wechat.charge(chargeRequest("ord_wx_ok", method: "wx_contract_1", attempt: 2)) == .succeeded(reference: transactionID))
            #expect(trades(server, "ord_wx_ok").count == 1)
        }
        try await client.shutdown()
    }

    @Test func aDeductionStillPendingGoesToTheRetryPathAndIsSettledByALaterQuery() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let wechat = try adapter(url, client)
            let first = await wechat.charge(chargeRequest("ord_wx_slow", method: "wx_contract_slow_2500"))
            #expect(first.kind == "unknown" && first.reason?.code == "pending")
            try await Task.sleep(for: .seconds(1.5))
            #expect(await wechat.charge(chargeRequest("ord_wx_slow", method: "wx_contract_slow_2500", attempt: 2)).kind == "succeeded")
            #expect(trades(server, "ord_wx_slow").count == 1)
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
            #expect(await wechat.charge(chargeRequest("ord_wx_busy", method: "wx_contract_unavailable_1", attempt: 2)).kind == "succeeded")
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
            let outcome = await try adapter(url, client, configuration: configuration).charge(chargeRequest("ord_wx_forged", method: "wx_contract_1"))
            #expect(outcome.kind == "unknown" && outcome.reason?.code == "wechat_unverified_answer")
        }
        try await client.shutdown()
    }

    @Test func errorTableFollowsTheContract() {
        #expect(WeChatClassifier.error(status: 429, code: "FREQUENCY_LIMITED", message: nil).kind == "retryable")
        for status in [500, 502, 503] { #expect(WeChatClassifier.error(status: status, code: "SYSTEM_ERROR", message: nil).kind == "unknown") }
        for (status, code) in [(400, "PARAM_ERROR"), (400, "INVALID_REQUEST"), (400, "ORDER_CLOSED"), (401, "SIGN_ERROR"), (403, "NOTENOUGH"),
                               (403, "TRADE_ERROR"), (403, "RULE_LIMIT"), (403, "ACCOUNT_ERROR"), (403, "NO_AUTH")] {
            #expect(WeChatClassifier.error(status: status, code: code, message: nil).kind == "declined", "\(code)")
        }
        // The trade exists: its fate is for the query, never a buyer-visible failure.
        #expect(WeChatClassifier.error(status: 400, code: "OUT_TRADE_NO_USED", message: nil).kind == "unknown")
    }
}
