import AsyncHTTPClient
import CashierChannels
import CashierCore
import CashierSandbox
import Testing

/// The Alipay adapter against the sandbox's Alipay gateway over real HTTP: RSA2 both ways,
/// every answer verified, and each classification row of CHANNELS.md that the sandbox plays.
@Suite struct AlipayChannelTests {
    func adapter(_ url: String, _ client: HTTPClient, configuration: AlipayConfiguration? = nil) throws -> AlipayAdapter {
        AlipayAdapter(configuration: try configuration ?? TestKeys.alipay(url), timeout: .seconds(5), client: client, logger: testLogger)
    }

    func trades(_ server: SandboxServer, _ orderID: String) -> [AlipayTrade] { server.alipay!.trades.filter { $0.orderID == orderID } }

    @Test func aWithholdingChargeSucceedsOnceAndIsFoundByQuery() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let alipay = try adapter(url, client)
            let outcome = await alipay.charge(chargeRequest("ord_ali_ok", method: "20215606000000001"))
            guard case .succeeded(let tradeNo) = outcome else { Issue.record("expected success, got \(outcome)"); return }
            #expect(trades(server, "ord_ali_ok").map(\.totalAmount) == ["90.00"])
            #expect(await alipay.lookup(chargeRequest("ord_ali_ok", method: "20215606000000001"), reference: nil) == .paid(reference: tradeNo))
            // A repeat asks first and never pays again.
            #expect(await alipay.charge(chargeRequest("ord_ali_ok", method: "20215606000000001", attempt: 2)) == .succeeded(reference: tradeNo))
            #expect(trades(server, "ord_ali_ok").count == 1)
        }
        try await client.shutdown()
    }

    @Test func balanceTooLowIsADecline() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let outcome = try await adapter(url, client).charge(chargeRequest("ord_ali_balance", method: "AGR_BALANCE"))
            #expect(outcome.kind == "declined" && outcome.reason?.code == "ACQ.BUYER_BALANCE_NOT_ENOUGH")
            #expect(trades(server, "ord_ali_balance").isEmpty)
        }
        try await client.shutdown()
    }

    /// `ACQ.CONTEXT_INCONSISTENT` says a trade with this out_trade_no exists with other fields:
    /// the query says what became of it; it is never a decline while that trade may be paid.
    @Test func aTradeThatExistsWithOtherFieldsIsQueriedNeverDeclinedNorBelieved() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let alipay = try adapter(url, client)
            guard case .succeeded(let tradeNo) = await alipay.charge(chargeRequest("ord_ali_ctx", method: "20215606000000001")) else {
                Issue.record("the first call should pay"); return
            }
            // The trade under this out_trade_no is paid, but for 90.00, not 1.00: not this
            // request's charge, and not "no charge" either (ReportedTerms).
            let changed = await alipay.charge(chargeRequest("ord_ali_ctx", method: "20215606000000001", amount: 100))
            #expect(changed.kind == "unknown" && changed.reason?.code == ChannelOutcome.termsMismatchCode, "got \(changed)")
            #expect(changed.reason?.message.contains("amount 90.00, ours 1.00") == true, "\(changed)")
            #expect(!changed.countsAgainstBreaker)
            #expect(trades(server, "ord_ali_ctx").count == 1)
            guard case .paidOnOtherTerms(let reference, let reason) = await alipay.lookup(chargeRequest("ord_ali_ctx", method: "20215606000000001", amount: 100), reference: nil) else {
                Issue.record("a trade for another amount was believed, or missed"); return
            }
            #expect(reason.code == ChannelOutcome.termsMismatchCode && reference == tradeNo)
            #expect(changed.reference == tradeNo, "the charge answer names the trade, for the lookup and the person")
            // The same query on the first request's terms finds its charge.
            #expect(await alipay.lookup(chargeRequest("ord_ali_ctx", method: "20215606000000001"), reference: nil) == .paid(reference: tradeNo))
            // A repeat asks first (attempt 2): the same answer, no second trade.
            var repeated = chargeRequest("ord_ali_ctx", method: "20215606000000001", amount: 100)
            repeated.attempt = 2
            #expect(await alipay.charge(repeated).reason?.code == ChannelOutcome.termsMismatchCode)
            #expect(trades(server, "ord_ali_ctx").count == 1)
        }
        try await client.shutdown()
    }

    @Test func aSystemErrorIsResolvedByQueryIntoTheOneCharge() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let outcome = try await adapter(url, client).charge(chargeRequest("ord_ali_syserr", method: "AGR_SYSTEM_ERROR"))
            #expect(outcome.kind == "succeeded", "ACQ.SYSTEM_ERROR after a payment must be found by the query: \(outcome)")
            #expect(trades(server, "ord_ali_syserr").count == 1)
        }
        try await client.shutdown()
    }

    @Test func serviceUnavailableIsQueriedThenUnknownThenRetriedWithTheSameParameters() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let alipay = try adapter(url, client)
            let first = await alipay.charge(chargeRequest("ord_ali_20000", method: "AGR_UNAVAILABLE_1"))
            // "May or may not have succeeded" and not found *yet*: unknown, never "nothing charged".
            #expect(first.kind == "unknown" && first.reason?.code == "isp.unknow-error", "20000, and the query found nothing yet: \(first)")
            let second = await alipay.charge(chargeRequest("ord_ali_20000", method: "AGR_UNAVAILABLE_1", attempt: 2))
            #expect(second.kind == "succeeded")
            #expect(trades(server, "ord_ali_20000").count == 1)
        }
        try await client.shutdown()
    }

    @Test func aPaymentInProcessStaysUnknownUntilTheQuerySaysPaid() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            let alipay = try adapter(url, client)
            let request = chargeRequest("ord_ali_wait", method: "AGR_INPROCESS_700")
            let outcome = await alipay.charge(request)
            #expect(outcome.kind == "unknown" && outcome.reason?.code == "alipay_10003", "10003 is neither a decline nor a retry: \(outcome)")
            guard case .unknown(let waiting) = await alipay.lookup(request, reference: nil) else { Issue.record("WAIT_BUYER_PAY is not settled"); return }
            #expect(waiting.code == "alipay_WAIT_BUYER_PAY")
            // A repeat asks first and does not pay again while the buyer is still paying.
            var repeated = request
            repeated.attempt = 2
            #expect(await alipay.charge(repeated).kind == "unknown")
            try await Task.sleep(for: .milliseconds(900))
            guard case .paid(let tradeNo) = await alipay.lookup(request, reference: nil) else { Issue.record("paid after the wait"); return }
            #expect(trades(server, "ord_ali_wait").map(\.tradeNo) == [tradeNo])
        }
        try await client.shutdown()
    }

    @Test func anAnswerThatFailsVerificationIsNeverBelieved() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            // The sandbox answers "10000 Success" signed with a key that is not Alipay's.
            let outcome = try await adapter(url, client).charge(chargeRequest("ord_ali_forged", method: "AGR_FORGED"))
            #expect(outcome.kind == "unknown" && outcome.reason?.code == "alipay_unverified_answer")
            #expect(trades(server, "ord_ali_forged").isEmpty)
        }
        try await client.shutdown()
    }

    @Test func aRequestSignedWithTheWrongKeyIsRefusedByTheGateway() async throws {
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        try await withSandbox(TestKeys.sandboxConfiguration) { url, server in
            var configuration = try TestKeys.alipay(url)
            configuration.appPrivateKey = try RSAKeys.loadPrivateKey(file: TestKeys.file(SandboxKeys.File.wechatMerchantPrivate), setting: "test")
            let outcome = try await adapter(url, client, configuration: configuration).charge(chargeRequest("ord_ali_badsign", method: "20215606000000001"))
            #expect(outcome.kind == "declined" && outcome.reason?.code == "isv.invalid-signature")
            #expect(trades(server, "ord_ali_badsign").isEmpty)
        }
        try await client.shutdown()
    }

    @Test func classificationFollowsTheContractTable() {
        func pay(_ code: String, _ sub: String? = nil) -> AlipayAnswer { AlipayClassifier.pay(code: code, subCode: sub, message: "m", tradeNo: "T1") }
        #expect(pay("10000") == .paid(tradeNo: "T1"))
        for (code, sub) in [("20000", nil), ("40004", "ACQ.SYSTEM_ERROR"), ("40004", "ACQ.SOMETHING_NEW"), ("40004", nil), ("99999", nil)] {
            guard case .queryFirst = pay(code, sub) else { Issue.record("\(code) \(sub ?? "") should be queried first"); continue }
        }
        // In progress or already there: only a query that finds it paid settles it; never a retry or a decline.
        for (code, sub) in [("10003", nil), ("40004", "ACQ.TRADE_HAS_SUCCESS"), ("40004", "ACQ.CONTEXT_INCONSISTENT")] {
            guard case .awaitQuery = pay(code, sub) else { Issue.record("\(code) \(sub ?? "") should wait for the query"); continue }
        }
        #expect(pay("10000", nil) == .paid(tradeNo: "T1"))
        guard case .queryFirst = AlipayClassifier.pay(code: "10000", subCode: nil, message: "m", tradeNo: nil) else {
            Issue.record("a success without trade_no is asked about"); return
        }
        for (code, sub) in [("20001", nil), ("40001", nil), ("40002", nil)] + AlipayClassifierTable.declines.map({ ("40004", $0) }) {
            guard case .declined = pay(code, sub) else { Issue.record("\(code) \(sub ?? "") should be terminal"); continue }
        }
        #expect(AlipayClassifier.query(code: "10000", subCode: nil, tradeStatus: "TRADE_FINISHED", tradeNo: "T") == .paid(reference: "T"))
        #expect(AlipayClassifier.query(code: "10000", subCode: nil, tradeStatus: "TRADE_CLOSED", tradeNo: "T") == .notPaid)
        #expect(AlipayClassifier.query(code: "40004", subCode: "ACQ.TRADE_NOT_EXIST", tradeStatus: nil, tradeNo: nil) == .notPaid)
        guard case .unknown = AlipayClassifier.query(code: "10000", subCode: nil, tradeStatus: "WAIT_BUYER_PAY", tradeNo: "T") else {
            Issue.record("WAIT_BUYER_PAY is not settled yet"); return
        }
    }
}

enum AlipayClassifierTable {
    static let declines = [
        "ACQ.TRADE_HAS_CLOSE", "ACQ.BUYER_BALANCE_NOT_ENOUGH", "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH",
        "ACQ.AGREEMENT_NOT_EXIST", "ACQ.AGREEMENT_INVALID", "ACQ.AGREEMENT_STATUS_NOT_NORMAL", "ACQ.INVALID_PARAMETER", "ACQ.ACCESS_FORBIDDEN",
    ]
}
