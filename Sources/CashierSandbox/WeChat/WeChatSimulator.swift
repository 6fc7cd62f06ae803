import CashierChannels
import CashierCore
import Foundation
import Synchronization

/// A contract deduction the WeChat Pay simulator holds.
public struct WeChatTrade: Sendable, Equatable {
    public let transactionID: String
    public let outTradeNo: String
    public let orderID: String
    public let contractID: String
    public let total: Int64
    public let currency: String
    public let createdAtMilliseconds: Int64
    /// When the pending deduction becomes `SUCCESS`.
    public let settlesAtMilliseconds: Int64

    public func state(at now: Int64) -> String { now >= settlesAtMilliseconds ? "SUCCESS" : "USERPAYING" }

    /// The transaction as the query answers it and the notification carries it.
    func json(state: String) -> String {
        EventJSON.text(WeChatWire.Transaction(
            appid: SandboxKeys.wechatAppid, mchid: SandboxKeys.wechatMchid, outTradeNo: outTradeNo, transactionID: transactionID,
            tradeState: state, contractID: contractID, amount: .init(total: total, currency: currency)))
    }
}

/// WeChat Pay API v3 as the sandbox plays it: verifies each request's WECHATPAY2-SHA256-RSA2048
/// signature with the merchant's public key, accepts contract deductions as *pending*, settles
/// them after a delay (then sends the encrypted, signed notification), answers queries, and
/// signs every answer with its platform key.
///
/// Contract ids choose behaviour: `wx_contract_notenough` (403 NOTENOUGH),
/// `wx_contract_unavailable_<n>` (503 for the first n calls, nothing created),
/// `wx_contract_slow_<ms>` (pending for that long), `wx_contract_nonotify` (no notification);
/// anything else settles after `--wechat-settle-ms`.
public final class WeChatSimulator: Sendable {
    public struct Answer: Sendable {
        public let status: Int
        public let body: String
        public let headers: [(String, String)]
    }

    private struct State {
        var trades: [String: WeChatTrade] = [:]
        var order: [String] = []
        var calls: [String: Int] = [:]
    }

    private let keys: SandboxKeys
    private let settleDelay: Duration
    private let notifier: Notifier
    private let state = Mutex(State())

    init(keys: SandboxKeys, settleDelay: Duration, notifier: Notifier) {
        self.keys = keys
        self.settleDelay = settleDelay
        self.notifier = notifier
    }

    public var trades: [WeChatTrade] { state.withLock { state in state.order.compactMap { state.trades[$0] } } }

    /// `POST /v3/papay/pay/transactions/apply`.
    public func apply(authorization: String?, path: String, body: [UInt8]) -> Answer {
        if let refusal = checkSignature(authorization, method: "POST", path: path, body: body) { return refusal }
        guard let document = try? JSONParser.parse(body), case .string(let outTradeNo)? = document["out_trade_no"],
            case .string(let contractID)? = document["contract_id"], case .string(let description)? = document["description"],
            case .number(let totalText)? = document["amount"]?["total"], let total = Int64(totalText), total > 0,
            case .string(let appid)? = document["appid"], appid == SandboxKeys.wechatAppid, outTradeNo.count <= 32
        else {
            return error(400, "PARAM_ERROR", "appid, out_trade_no (≤32), description, contract_id and amount.total are required")
        }
        let currency = if case .string(let code)? = document["amount"]?["currency"] { code } else { "CNY" }
        let notifyURL = if case .string(let url)? = document["transaction_notify_url"] { url } else { "" }
        enum Decision { case answer(Answer), accepted(WeChatTrade) }
        let now = Self.nowMilliseconds()
        let decision: Decision = state.withLock { state in
            let call = state.calls[outTradeNo, default: 0] + 1
            state.calls[outTradeNo] = call
            if state.trades[outTradeNo] != nil { return .answer(error(400, "OUT_TRADE_NO_USED", "商户订单号重复 (out_trade_no already used)")) }
            if contractID == "wx_contract_notenough" { return .answer(error(403, "NOTENOUGH", "用户账户余额不足 (insufficient balance)")) }
            if contractID.hasPrefix("wx_contract_unavailable_"), let failures = Int(contractID.dropFirst("wx_contract_unavailable_".count)), call <= failures {
                return .answer(error(503, "SYSTEM_ERROR", "系统繁忙 (busy), retry with the same out_trade_no"))
            }
            var delay = settleDelay.wholeMilliseconds
            if contractID.hasPrefix("wx_contract_slow_"), let ms = Int64(contractID.dropFirst("wx_contract_slow_".count)) { delay = ms }
            let trade = WeChatTrade(
                transactionID: "4200\(now)\(Int.random(in: 100_000...999_999))", outTradeNo: outTradeNo,
                orderID: SandboxOrders.orderID(fromSubject: description), contractID: contractID, total: total, currency: currency,
                createdAtMilliseconds: now, settlesAtMilliseconds: now + delay)
            state.trades[outTradeNo] = trade
            state.order.append(outTradeNo)
            return .accepted(trade)
        }
        switch decision {
        case .answer(let answer): return answer
        case .accepted(let trade):
            if !notifyURL.isEmpty && contractID != "wx_contract_nonotify" {
                let notifier = self.notifier
                let keys = self.keys
                Task {
                    try? await Task.sleep(for: .milliseconds(max(0, trade.settlesAtMilliseconds - Self.nowMilliseconds())))
                    notifier.wechat(trade, to: notifyURL, keys: keys)
                }
            }
            return signed(204, "")
        }
    }

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`.
    public func query(authorization: String?, path: String, outTradeNo: String) -> Answer {
        if let refusal = checkSignature(authorization, method: "GET", path: path, body: []) { return refusal }
        guard let trade = state.withLock({ $0.trades[outTradeNo] }) else { return error(404, "ORDER_NOT_EXIST", "订单不存在 (no such order)") }
        return signed(200, trade.json(state: trade.state(at: Self.nowMilliseconds())))
    }

    private func checkSignature(_ authorization: String?, method: String, path: String, body: [UInt8]) -> Answer? {
        guard let authorization, let fields = WeChatProtocol.authorizationFields(authorization),
            let nonce = fields["nonce_str"], let timestampText = fields["timestamp"], let timestamp = Int64(timestampText),
            let signature = fields["signature"]
        else { return error(401, "SIGN_ERROR", "Authorization header missing or malformed") }
        guard fields["mchid"] == SandboxKeys.wechatMchid, fields["serial_no"] == SandboxKeys.wechatMerchantSerial else {
            return error(401, "SIGN_ERROR", "unknown mchid or serial_no")
        }
        guard WeChatProtocol.isFresh(timestamp) else { return error(401, "SIGN_ERROR", "timestamp too far from now") }
        let message = WeChatProtocol.requestMessage(
            method: method, canonicalURL: path, timestamp: timestamp, nonce: nonce, body: String(decoding: body, as: UTF8.self))
        guard RSASignature.isValid(signature, for: Array(message.utf8), with: keys.wechatMerchantPublic) else {
            return error(401, "SIGN_ERROR", "签名错误 (signature does not verify)")
        }
        return nil
    }

    private func error(_ status: Int, _ code: String, _ message: String) -> Answer {
        signed(status, EventJSON.text(WeChatWire.Failure(code: code, message: message)))
    }

    private func signed(_ status: Int, _ body: String) -> Answer {
        let headers = WeChatProtocol.signedHeaders(body: Array(body.utf8), serial: SandboxKeys.wechatPlatformSerial, key: keys.wechatPlatformPrivate)
        return Answer(status: status, body: body, headers: headers + [("Request-ID", UUID().uuidString)])
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
