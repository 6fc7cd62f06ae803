import _CryptoExtras
import CashierChannels
import CashierCore
import Foundation
import Synchronization

/// A trade the Alipay simulator holds.
public struct AlipayTrade: Sendable, Equatable {
    public let tradeNo: String
    public let outTradeNo: String
    public let orderID: String
    public let totalAmount: String
    public let agreementNo: String
    /// `TRADE_SUCCESS`, or `WAIT_BUYER_PAY` until `paidAtMilliseconds`.
    public var status: String
    public let createdAtMilliseconds: Int64
    /// When a trade still waiting for the buyer becomes `TRADE_SUCCESS`.
    public var paidAtMilliseconds: Int64? = nil

    /// The trade as it stands at `now` (Unix milliseconds).
    func current(at now: Int64) -> AlipayTrade {
        guard status == "WAIT_BUYER_PAY", let paidAtMilliseconds, now >= paidAtMilliseconds else { return self }
        var paid = self
        paid.status = "TRADE_SUCCESS"
        return paid
    }
}

/// Alipay's OpenAPI gateway as the sandbox plays it: verifies each request's RSA2 signature
/// with the app's public key, answers `alipay.trade.pay` (withholding) and `alipay.trade.query`,
/// and signs every answer with its platform key over the raw `…_response` bytes.
///
/// Agreement numbers choose behaviour: `AGR_BALANCE` (declined, balance), `AGR_SYSTEM_ERROR`
/// (paid, but answered `ACQ.SYSTEM_ERROR`), `AGR_UNAVAILABLE_<n>` (20000 for the first n calls,
/// nothing paid), `AGR_FORGED` (a success answer signed with the wrong key, nothing paid),
/// `AGR_INPROCESS_<ms>` (answered `10003`; the trade waits for the buyer, `WAIT_BUYER_PAY`, and
/// is paid `<ms>` later, without a notification); anything else is paid.
public final class AlipaySimulator: Sendable {
    private struct State {
        var trades: [String: AlipayTrade] = [:]
        var order: [String] = []
        var calls: [String: Int] = [:]
    }

    private let keys: SandboxKeys
    private let forger: _RSA.Signing.PrivateKey
    private let state = Mutex(State())
    private let notifier: Notifier

    init(keys: SandboxKeys, notifier: Notifier) {
        self.keys = keys
        // Any key but Alipay's platform key forges; one of the set spares generating a key
        // (slow, and on the caller's thread) each time a sandbox starts.
        self.forger = keys.wechatPlatformPrivate
        self.notifier = notifier
    }

    /// Every trade, as it stands now.
    public var trades: [AlipayTrade] {
        let now = Self.nowMilliseconds()
        return state.withLock { state in state.order.compactMap { state.trades[$0] } }.map { $0.current(at: now) }
    }

    /// Handles `POST /gateway.do` (parameters from the query string and the form body).
    public func gateway(_ parameters: [(String, String)]) -> String {
        let values = Dictionary(parameters, uniquingKeysWith: { first, _ in first })
        let method = values["method"] ?? ""
        let responseKey = method.replacingOccurrences(of: ".", with: "_") + "_response"
        guard let sign = values["sign"],
            RSASignature.isValid(sign, for: Array(AlipayProtocol.signingContent(parameters).utf8), with: keys.alipayAppPublic)
        else {
            return answer(responseKey, ["code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature", "sub_msg": "验签出错 (signature check failed)"])
        }
        guard values["app_id"] == SandboxKeys.alipayAppID, values["sign_type"] == "RSA2", values["charset"] == "utf-8" else {
            return answer(responseKey, ["code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id", "sub_msg": "app_id, sign_type or charset not accepted"])
        }
        guard let bizText = values["biz_content"], let biz = try? JSONParser.parse(Array(bizText.utf8)),
            case .string(let outTradeNo)? = biz["out_trade_no"]
        else {
            return answer(responseKey, ["code": "40001", "msg": "Missing Required Arguments", "sub_code": "isv.missing-biz-content", "sub_msg": "biz_content.out_trade_no is required"])
        }
        switch method {
        case "alipay.trade.pay": return pay(biz, outTradeNo: outTradeNo, notifyURL: values["notify_url"], responseKey: responseKey)
        case "alipay.trade.query": return query(outTradeNo, responseKey: responseKey)
        default: return answer(responseKey, ["code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method", "sub_msg": "unsupported method"])
        }
    }

    private func pay(_ biz: JSONValue, outTradeNo: String, notifyURL: String?, responseKey: String) -> String {
        guard case .string(let total)? = biz["total_amount"], case .string("GENERAL_WITHHOLDING")? = biz["product_code"],
            case .string(let agreementNo)? = biz["agreement_params"]?["agreement_no"], case .string(let subject)? = biz["subject"]
        else {
            return answer(responseKey, ["code": "40004", "msg": "Business Failed", "sub_code": "ACQ.INVALID_PARAMETER", "sub_msg": "total_amount, subject, product_code GENERAL_WITHHOLDING and agreement_params.agreement_no are required"])
        }
        let failed = ["code": "40004", "msg": "Business Failed"]
        enum Decision { case answer([String: String]), forged, paid(AlipayTrade, systemError: Bool), inProcess(AlipayTrade) }
        let decision: Decision = state.withLock { state in
            let call = state.calls[outTradeNo, default: 0] + 1
            state.calls[outTradeNo] = call
            if let existing = state.trades[outTradeNo] {
                let same = existing.totalAmount == total && existing.agreementNo == agreementNo
                return .answer(failed.merging(["sub_code": same ? "ACQ.TRADE_HAS_SUCCESS" : "ACQ.CONTEXT_INCONSISTENT",
                    "sub_msg": same ? "交易已被支付 (already paid)" : "交易信息被篡改 (parameters differ)"]) { $1 })
            }
            if agreementNo == "AGR_BALANCE" {
                return .answer(failed.merging(["sub_code": "ACQ.BUYER_BALANCE_NOT_ENOUGH", "sub_msg": "买家余额不足 (balance too low)"]) { $1 })
            }
            if agreementNo.hasPrefix("AGR_UNAVAILABLE_"), let failures = Int(agreementNo.dropFirst("AGR_UNAVAILABLE_".count)), call <= failures {
                return .answer(["code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error", "sub_msg": "系统繁忙"])
            }
            if agreementNo == "AGR_FORGED" { return .forged }
            let now = Self.nowMilliseconds()
            var waitFor: Int64? = nil
            if agreementNo.hasPrefix("AGR_INPROCESS_"), let ms = Int64(agreementNo.dropFirst("AGR_INPROCESS_".count)), ms >= 0 { waitFor = ms }
            let trade = AlipayTrade(
                tradeNo: "2026\(Int64(Date().timeIntervalSince1970 * 1000))\(Int.random(in: 1000...9999))", outTradeNo: outTradeNo,
                orderID: SandboxOrders.orderID(fromSubject: subject), totalAmount: total, agreementNo: agreementNo,
                status: waitFor == nil ? "TRADE_SUCCESS" : "WAIT_BUYER_PAY", createdAtMilliseconds: now,
                paidAtMilliseconds: waitFor.map { now + $0 })
            state.trades[outTradeNo] = trade
            state.order.append(outTradeNo)
            if waitFor != nil { return .inProcess(trade) }
            return .paid(trade, systemError: agreementNo == "AGR_SYSTEM_ERROR")
        }
        switch decision {
        case .answer(let fields): return answer(responseKey, fields)
        case .forged:
            return answer(responseKey, ["code": "10000", "msg": "Success", "trade_no": "2026FORGED", "out_trade_no": outTradeNo], signer: forger)
        case .inProcess(let trade):
            return answer(responseKey, [
                "code": "10003", "msg": "Order success pay inprocess", "trade_no": trade.tradeNo, "out_trade_no": outTradeNo,
                "total_amount": total,
            ])
        case .paid(let trade, let systemError):
            if let notifyURL { notifier.alipay(trade, to: notifyURL, key: keys.alipayPlatformPrivate) }
            if systemError {
                return answer(responseKey, failed.merging(["sub_code": "ACQ.SYSTEM_ERROR", "sub_msg": "系统异常 (the outcome is unknown)"]) { $1 })
            }
            return answer(responseKey, [
                "code": "10000", "msg": "Success", "trade_no": trade.tradeNo, "out_trade_no": outTradeNo, "total_amount": total,
                "buyer_logon_id": "159****5620", "gmt_payment": AlipayProtocol.timestamp(Date()),
            ])
        }
    }

    private func query(_ outTradeNo: String, responseKey: String) -> String {
        guard let trade = state.withLock({ $0.trades[outTradeNo] })?.current(at: Self.nowMilliseconds()) else {
            return answer(responseKey, ["code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在 (no such trade)"])
        }
        return answer(responseKey, [
            "code": "10000", "msg": "Success", "trade_no": trade.tradeNo, "out_trade_no": outTradeNo, "trade_status": trade.status,
            "total_amount": trade.totalAmount,
        ])
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// `{"…_response":{…},"sign":"…"}`, the signature over the response object's exact bytes.
    private func answer(_ responseKey: String, _ fields: [String: String], signer: _RSA.Signing.PrivateKey? = nil) -> String {
        let response = EventJSON.text(fields)
        let sign = RSASignature.sign(Array(response.utf8), with: signer ?? keys.alipayPlatformPrivate)
        // Compact output nests a value as the same bytes it has alone: the signed ones.
        return EventJSON.text(AlipayAnswer(responseKey: responseKey, response: fields, sign: sign))
    }
}

/// `{"…_response":{…},"sign":"…"}`: a response object under its method's key, and its signature.
private struct AlipayAnswer: Encodable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var responseKey: String
    var response: [String: String]
    var sign: String

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(response, forKey: Key(stringValue: responseKey))
        try container.encode(sign, forKey: Key(stringValue: "sign"))
    }
}

/// The sandbox lists charges by order id; Alipay and WeChat Pay carry it only in the text
/// Cashier writes (`Order <id> item <item>`), so it is read back from there.
enum SandboxOrders {
    static func orderID(fromSubject subject: String) -> String {
        let parts = subject.split(separator: " ")
        guard parts.count >= 2, parts[0] == "Order" else { return "" }
        return String(parts[1])
    }
}
