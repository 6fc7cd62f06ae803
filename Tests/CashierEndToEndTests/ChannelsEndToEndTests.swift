import AsyncHTTPClient
import CashierChannels
import CashierCore
import Foundation
import NIOCore
import Testing

/// Alipay and WeChat Pay end to end: orders through the worker to the sandbox's signed
/// protocols, ambiguous answers resolved by query, pending deductions settled by query and by
/// notification (the same result either way, once), forged notifications refused, and a
/// channel whose breaker opens while the others keep flowing.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct ChannelsEndToEndTests {
    @Test func ordersOnEveryChannelAreChargedExactlyOnce() async throws {
        let pipeline = try await Pipeline.shared()
        var orders: [OrderCreated] = []
        for index in 0..<5 {
            orders.append(pipeline.order("three_card\(index)"))
            orders.append(pipeline.order("three_ali\(index)", paymentMethod: "2021560600000000\(index)", channel: .alipay))
            orders.append(pipeline.order("three_wx\(index)", paymentMethod: "wx_contract_\(index)", channel: .wechat))
        }
        for order in orders { try await pipeline.publish(order) }
        try await pipeline.waitForTerminal(orders.map(\.orderID))
        for order in orders {
            #expect(try await pipeline.paymentState(order.orderID) == "succeeded", "\(order.orderID)")
            let charges = try await pipeline.charges(order.orderID)
            #expect(charges.count == 1 && charges[0].key == PaymentIdentity.idempotencyKey(orderID: order.orderID), "\(order.orderID)")
        }
        let results = try await pipeline.results(for: Set(orders.map(\.orderID)), atLeast: orders.count)
        for order in orders {
            #expect(results[order.orderID]?.first?["channel"] == .string(order.channel.rawValue))
            #expect(results[order.orderID]?.count == 1)
        }
    }

    @Test func alipayAmbiguousErrorsAreResolvedByQueryIntoOneCharge() async throws {
        let pipeline = try await Pipeline.shared()
        // Paid, but answered ACQ.SYSTEM_ERROR; and 20000 twice before the gateway works.
        let systemError = pipeline.order("ali_syserr", paymentMethod: "AGR_SYSTEM_ERROR", channel: .alipay)
        let unavailable = pipeline.order("ali_20000", paymentMethod: "AGR_UNAVAILABLE_2", channel: .alipay)
        try await pipeline.publish(systemError)
        try await pipeline.publish(unavailable)
        try await pipeline.waitForTerminal([systemError.orderID, unavailable.orderID])
        #expect(try await pipeline.payment(systemError.orderID)?.state == "succeeded")
        #expect(try await pipeline.payment(systemError.orderID)?.attempts == 1, "settled by the query, no second call")
        #expect(try await pipeline.payment(unavailable.orderID)?.state == "succeeded")
        #expect(try await pipeline.charges(systemError.orderID).count == 1)
        #expect(try await pipeline.charges(unavailable.orderID).count == 1)
    }

    @Test func aPendingWeChatDeductionIsSettledByQueryOrByNotificationWithTheSameResultOnce() async throws {
        let pipeline = try await Pipeline.shared()
        // By query: pending 2.5 s, no notification; looked up on the schedule until it settles.
        let byQuery = pipeline.order("wx_byquery", paymentMethod: "wx_contract_slow_2500", channel: .wechat)
        // By notification: pending for an hour, so only the notification can settle it.
        let byNotification = pipeline.order("wx_bynotify", paymentMethod: "wx_contract_slow_3600000", channel: .wechat)
        try await pipeline.publish(byQuery)
        try await pipeline.publish(byNotification)
        try await pipeline.waitForTerminal([byQuery.orderID])
        try await eventually("the second deduction to be pending, looked up") {
            try await pipeline.payment(byNotification.orderID)?.state == "resolving"
        }
        let trade = try #require(try await pipeline.charges(byNotification.orderID).first)
        #expect(trade.status == "pending")

        let notification = try WeChatNotification(pipeline: pipeline, outTradeNo: trade.key, transactionID: trade.id)
        #expect(try await notification.send(to: pipeline.notifyURL) == 204)
        #expect(try await notification.send(to: pipeline.notifyURL) == 204, "a resent notification is acknowledged again")
        try await pipeline.waitForTerminal([byNotification.orderID], timeout: .seconds(10))

        let results = try await pipeline.results(for: [byQuery.orderID, byNotification.orderID], atLeast: 2)
        for (order, transactionID) in [(byQuery, try await pipeline.charges(byQuery.orderID).first?.id), (byNotification, trade.id)] {
            let events = results[order.orderID] ?? []
            #expect(Set(events.map { "\($0)" }).count == 1, "one result for \(order.orderID)")
            #expect(events.first?["status"] == .string("succeeded"))
            #expect(events.first?["channel_reference"] == transactionID.map { .string($0) })
            #expect(events.first?["amount"] == .number("9000"))
        }
    }

    @Test func forgedAndStaleNotificationsAreRefusedAndChangeNothing() async throws {
        let pipeline = try await Pipeline.shared()
        let (order, trade) = try await pipeline.pendingWeChatOrder("wx_forged")
        // Signed with a key that is not the platform's; then genuine but 10 minutes old.
        let forged = try WeChatNotification(pipeline: pipeline, outTradeNo: trade.key, transactionID: trade.id, signWith: "alipay_platform_private.pem")
        #expect(try await forged.send(to: pipeline.notifyURL) == 401)
        let stale = try WeChatNotification(pipeline: pipeline, outTradeNo: trade.key, transactionID: trade.id, age: 600)
        #expect(try await stale.send(to: pipeline.notifyURL) == 401)
        // A timestamp at the edge of Int64 is read before the signature: refused, and the
        // server answers the next one (before, the age computation trapped the process).
        for extreme in [Int64.min, Int64.max] {
            let edge = try WeChatNotification(pipeline: pipeline, outTradeNo: trade.key, transactionID: trade.id, timestampHeader: String(extreme))
            #expect(try await edge.send(to: pipeline.notifyURL) == 401)
        }
        #expect(try await stale.send(to: pipeline.notifyURL) == 401, "the notification server is still up")
        #expect(try await pipeline.payment(order.orderID)?.state == "resolving")
        #expect(pipeline.notify.log.contains("payment notification refused"))
    }

    /// A trade under the order's `out_trade_no` paid for another amount (another system sharing
    /// the merchant account, a bug that changed fields): money moved under our reference, so the
    /// order may not fail; it is not the charge asked for, so it may not succeed. It is parked
    /// for a person at once (`terms_mismatch`), with no result, and a notification on those
    /// terms settles nothing.
    @Test func aChargeOnOtherTermsUnderOurReferenceIsParkedForAPersonNeitherSucceededNorFailed() async throws {
        let pipeline = try await Pipeline.shared()
        let order = pipeline.order("ali_terms", paymentMethod: "20215606000000007", channel: .alipay)
        let key = PaymentIdentity.idempotencyKey(orderID: order.orderID)
        // The trade planted first, for 0.01 CNY (the order is for 90.00).
        let planted = try pipeline.alipayAdapter()
        let plantedCharge = await planted.charge(ChargeRequest(
            paymentID: "planted", orderID: order.orderID, itemID: order.itemID, amount: 1, currency: .cny, paymentMethod: order.paymentMethod,
            idempotencyKey: key))
        guard case .succeeded(let tradeNo) = plantedCharge else { Issue.record("the planted trade: \(plantedCharge)"); return }

        try await pipeline.publish(order)
        try await eventually("the payment to be parked as terms_mismatch") {
            try await pipeline.count(
                "SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'terms_mismatch' AND status = 'open'") == 1
        }
        #expect(try await pipeline.payment(order.orderID)?.state == "resolving", "neither succeeded nor failed")
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM payments WHERE order_id = '\(order.orderID)' AND retry_due_at IS NULL") == 1, "no lookup is due: a person is")
        #expect(try await pipeline.count("SELECT count(*)::integer FROM outbox WHERE kind = 'result' AND message_key = '\(order.orderID)'") == 0)
        #expect(try await pipeline.count("SELECT count(*)::integer FROM outbox WHERE kind = 'dlq' AND message_key = '\(order.orderID)'") == 1)
        #expect(try await pipeline.charges(order.orderID).count == 1, "no second trade")

        // Alipay's notification of that trade (0.01): genuine, acknowledged, settles nothing.
        #expect(try await pipeline.sendAlipayNotification(outTradeNo: key, tradeNo: tradeNo, totalAmount: "0.01") == "success")
        #expect(try await pipeline.payment(order.orderID)?.state == "resolving")
        #expect(pipeline.notify.log.contains("payment notification on other terms than the payment's; not settled"))

        // The operator's way out: a dry run says what a replay would do; the replay accepts the
        // trade as this payment's charge (succeeded, one result, no new charge), audited.
        let environment = Pipeline.workerEnvironment(pipeline.sandboxURL)
        let dry: (status: Int32, out: String, err: String) = try await CashierProcess.run(
            ["dlq", "replay", "--order-id", order.orderID, "--dry-run"], environment: environment)
        #expect(dry.status == 0 && dry.out.contains("would accept charge \(tradeNo)"), "\(dry.out) \(dry.err)")
        #expect(try await pipeline.payment(order.orderID)?.state == "resolving", "a dry run changes nothing")
        let bulk: (status: Int32, out: String, err: String) = try await CashierProcess.run(["dlq", "replay", "--all", "--dry-run"], environment: environment)
        #expect(bulk.out.contains("never by --all"), "a bulk replay never accepts other terms: \(bulk.out) \(bulk.err)")
        let replay: (status: Int32, out: String, err: String) = try await CashierProcess.run(
            ["dlq", "replay", "--order-id", order.orderID, "--yes", "--reason", "other terms accepted; difference refunded"], environment: environment)
        #expect(replay.status == 0 && replay.out.contains("accepted by the operator"), "\(replay.out) \(replay.err)")
        #expect(try await pipeline.paymentState(order.orderID) == "succeeded")
        let results = try await pipeline.results(for: [order.orderID], atLeast: 1)
        #expect(results[order.orderID]?.count == 1)
        #expect(results[order.orderID]?.first?["channel_reference"] == .string(tradeNo))
        #expect(try await pipeline.charges(order.orderID).count == 1, "accepted, not charged again")
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'terms_mismatch' AND status = 'replayed'") == 1)
    }

    @Test func aWeChatNotificationForAnotherAmountSettlesNothingAndTheRightOneSettles() async throws {
        let pipeline = try await Pipeline.shared()
        let (order, trade) = try await pipeline.pendingWeChatOrder("wx_terms")
        let other = try WeChatNotification(pipeline: pipeline, outTradeNo: trade.key, transactionID: trade.id, total: 100)
        #expect(try await other.send(to: pipeline.notifyURL) == 204, "genuine: acknowledged")
        #expect(try await pipeline.payment(order.orderID)?.state == "resolving", "1.00 is not this 90.00 payment's charge")
        let right = try WeChatNotification(pipeline: pipeline, outTradeNo: trade.key, transactionID: trade.id)
        #expect(try await right.send(to: pipeline.notifyURL) == 204)
        try await pipeline.waitForTerminal([order.orderID], timeout: .seconds(10))
        #expect(try await pipeline.paymentState(order.orderID) == "succeeded")

        // A declined payment has no lookups left to find a charge on other terms: a genuine
        // notification of one is a contradiction for a person, never just a log line.
        let declined = pipeline.order("wx_terms_declined", paymentMethod: "wx_contract_notenough", channel: .wechat)
        try await pipeline.publish(declined)
        try await pipeline.waitForTerminal([declined.orderID])
        #expect(try await pipeline.paymentState(declined.orderID) == "failed")
        let late = try WeChatNotification(
            pipeline: pipeline, outTradeNo: PaymentIdentity.idempotencyKey(orderID: declined.orderID), transactionID: "4200LATE", total: 100)
        #expect(try await late.send(to: pipeline.notifyURL) == 204)
        #expect(try await pipeline.paymentState(declined.orderID) == "failed", "the published failed stands")
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM dead_letters WHERE order_id = '\(declined.orderID)' AND reason_code = 'channel_contradiction' AND reason_message LIKE '%other terms%'") == 1)
    }

    @Test func aFailingChannelOpensItsBreakerWhileTheOthersKeepFlowing() async throws {
        let pipeline = try await Pipeline.shared()
        // Alipay answers 20000 to every call for these orders: the worker's alipay breaker opens.
        let failing = (0..<10).map { pipeline.order("breaker_ali\($0)", paymentMethod: "AGR_UNAVAILABLE_99", channel: .alipay) }
        for order in failing { try await pipeline.publish(order) }
        try await eventually("the worker's alipay breaker to open") { pipeline.worker.log.contains("circuit breaker opened") }
        // While it is open, new Alipay orders wait (no call, no attempt), then go on the retry
        // schedule uncalled (CASHIER_BREAKER_MAX_WAIT_MS), where the retry worker tries them.
        let refused = (0..<3).map { pipeline.order("breaker_ali_late\($0)", paymentMethod: "AGR_UNAVAILABLE_99", channel: .alipay) }
        for order in refused { try await pipeline.publish(order) }
        let flowing = (0..<10).map { pipeline.order("breaker_card\($0)") } + (0..<5).map { pipeline.order("breaker_wx\($0)", paymentMethod: "wx_contract_\($0)", channel: .wechat) }
        for order in flowing { try await pipeline.publish(order) }
        try await pipeline.waitForTerminal(flowing.map(\.orderID), timeout: .seconds(30))
        for order in flowing { #expect(try await pipeline.paymentState(order.orderID) == "succeeded") }
        try await pipeline.waitForTerminal((failing + refused).map(\.orderID))
        for order in failing + refused {
            #expect(try await pipeline.payment(order.orderID)?.reason == "retries_exhausted")
            #expect(try await pipeline.charges(order.orderID).isEmpty)
        }
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM payment_attempts a JOIN payments p USING (payment_id) WHERE p.order_id LIKE '\(pipeline.orderID("breaker_ali"))%' AND a.error_code = 'circuit_open'") == 0,
            "a call the breaker held back is not an attempt")
        for order in failing + refused { #expect(try await pipeline.payment(order.orderID)?.attempts == 4, "every attempt was a call") }
        // The breaker closes again: a healthy Alipay order goes through.
        try await Task.sleep(for: .seconds(3.2))
        let healthy = pipeline.order("breaker_ali_after", paymentMethod: "20215606000000009", channel: .alipay)
        try await pipeline.publish(healthy)
        try await pipeline.waitForTerminal([healthy.orderID])
        #expect(try await pipeline.paymentState(healthy.orderID) == "succeeded")
    }
}

/// A WeChat Pay payment notification, built and signed as the platform does (the sandbox's
/// platform key and the APIv3 key from the development key set).
struct WeChatNotification {
    let body: String
    let headers: [(String, String)]

    init(
        pipeline: Pipeline, outTradeNo: String, transactionID: String, signWith keyFile: String = "wechat_platform_private.pem", age: Int64 = 0,
        timestampHeader: String? = nil, total: Int64 = 9000
    ) throws {
        let settings = try Pipeline.settings(pipeline.keysDirectory + "/cashier.env")
        let apiV3Key = settings["CASHIER_WECHAT_APIV3_KEY"] ?? ""
        let resource = #"{"appid":"\#(settings["CASHIER_WECHAT_APPID"] ?? "")","mchid":"\#(settings["CASHIER_WECHAT_MCHID"] ?? "")","out_trade_no":"\#(outTradeNo)","transaction_id":"\#(transactionID)","trade_state":"SUCCESS","amount":{"total":\#(total),"currency":"CNY"}}"#
        guard let ciphertext = WeChatProtocol.encrypt(Array(resource.utf8), nonce: "n0nce0000001", associatedData: "transaction", apiV3Key: apiV3Key) else {
            throw TestFailure("cannot encrypt with the APIv3 key")
        }
        body = #"{"id":"\#(UUID().uuidString)","event_type":"TRANSACTION.SUCCESS","resource_type":"encrypt-resource","resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"\#(ciphertext)","associated_data":"transaction","nonce":"n0nce0000001"}}"#
        let key = try RSAKeys.loadPrivateKey(file: pipeline.keysDirectory + "/" + keyFile, setting: "test")
        let timestamp = Int64(Date().timeIntervalSince1970) - age
        let signature = WeChatProtocol.signAnswer(body: Array(body.utf8), timestamp: timestamp, nonce: "N", key: key)
        headers = [("Content-Type", "application/json"), ("Wechatpay-Timestamp", timestampHeader ?? String(timestamp)), ("Wechatpay-Nonce", "N"),
                   ("Wechatpay-Signature", signature), ("Wechatpay-Serial", settings["CASHIER_WECHAT_PLATFORM_SERIAL"] ?? "")]
    }

    func send(to notifyURL: String) async throws -> Int {
        var request = HTTPClientRequest(url: notifyURL + "/notify/wechat")
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return Int(response.status.code)
    }
}

extension Pipeline {
    /// Publishes a WeChat Pay order whose deduction stays pending for an hour, so that only a
    /// notification settles it, and waits until it is being looked up; returns it and its trade.
    func pendingWeChatOrder(_ name: String) async throws -> (order: OrderCreated, trade: (status: String, key: String, id: String)) {
        let order = self.order(name, paymentMethod: "wx_contract_slow_3600000", channel: .wechat)
        try await publish(order)
        try await eventually("the deduction to be pending") { try await payment(order.orderID)?.state == "resolving" }
        return (order, try #require(try await charges(order.orderID).first))
    }

    /// An Alipay adapter of our own app against the pipeline's sandbox (to plant a trade).
    func alipayAdapter() throws -> AlipayAdapter {
        let settings = try Pipeline.settings(keysDirectory + "/cashier.env")
        let configuration = AlipayConfiguration(
            gatewayURL: sandboxURL + "/gateway.do", appID: settings["CASHIER_ALIPAY_APP_ID"] ?? "",
            appPrivateKey: try RSAKeys.loadPrivateKey(file: settings["CASHIER_ALIPAY_PRIVATE_KEY_FILE"] ?? "", setting: "test"),
            alipayPublicKey: try RSAKeys.loadPublicKey(file: settings["CASHIER_ALIPAY_PUBLIC_KEY_FILE"] ?? "", setting: "test"))
        return AlipayAdapter(configuration: configuration, timeout: .seconds(5), client: http, logger: logger)
    }

    /// Sends Alipay's asynchronous notification of a paid trade, signed with the platform's
    /// key as Alipay does; returns the endpoint's answer text.
    func sendAlipayNotification(outTradeNo: String, tradeNo: String, totalAmount: String) async throws -> String {
        let settings = try Pipeline.settings(keysDirectory + "/cashier.env")
        var form: [(String, String)] = [
            ("notify_time", "2026-12-07 10:00:00"), ("notify_type", "trade_status_sync"), ("notify_id", UUID().uuidString),
            ("app_id", settings["CASHIER_ALIPAY_APP_ID"] ?? ""), ("charset", "utf-8"), ("version", "1.0"), ("sign_type", "RSA2"),
            ("trade_no", tradeNo), ("out_trade_no", outTradeNo), ("trade_status", "TRADE_SUCCESS"), ("total_amount", totalAmount),
        ]
        let key = try RSAKeys.loadPrivateKey(file: keysDirectory + "/alipay_platform_private.pem", setting: "test")
        form.append(("sign", RSASignature.sign(Array(AlipayProtocol.signingContent(form, excluding: ["sign", "sign_type"]).utf8), with: key)))
        var request = HTTPClientRequest(url: notifyURL + "/notify/alipay")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")
        request.body = .bytes(ByteBuffer(string: form.map { "\($0.0)=\(FormEncoding.escape($0.1))" }.joined(separator: "&")))
        let response = try await http.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 16))
    }
}
