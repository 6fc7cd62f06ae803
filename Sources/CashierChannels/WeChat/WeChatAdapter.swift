public import _CryptoExtras
public import AsyncHTTPClient
public import CashierCore
import Foundation
public import Logging
import NIOCore
import NIOHTTP1

/// Where and how to reach WeChat Pay API v3.
public struct WeChatConfiguration: Sendable {
    /// e.g. `https://api.mch.weixin.qq.com`, or the sandbox's `http://127.0.0.1:PORT`.
    public var baseURL: String
    public var mchid: String
    public var appid: String
    /// The merchant API certificate's serial number (names the key that signs our requests).
    public var serialNo: String
    public var merchantPrivateKey: _RSA.Signing.PrivateKey
    /// Platform public keys by id (`Wechatpay-Serial`).
    public var platformKeys: [String: _RSA.Signing.PublicKey]
    public var apiV3Key: String
    /// `transaction_notify_url`: where WeChat Pay sends the payment notification.
    public var notifyURL: String

    public init(
        baseURL: String, mchid: String, appid: String, serialNo: String, merchantPrivateKey: _RSA.Signing.PrivateKey,
        platformKeys: [String: _RSA.Signing.PublicKey], apiV3Key: String, notifyURL: String
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.mchid = mchid
        self.appid = appid
        self.serialNo = serialNo
        self.merchantPrivateKey = merchantPrivateKey
        self.platformKeys = platformKeys
        self.apiV3Key = apiV3Key
        self.notifyURL = notifyURL
    }
}

/// WeChat Pay v3 contract deduction (`/v3/papay/pay/transactions/apply`) and the query by
/// `out_trade_no`, signed with WECHATPAY2-SHA256-RSA2048; every answer's signature verified.
///
/// An accepted deduction is *pending*, not paid, and the adapter never waits for it inside a
/// call: `charge` answers `.unknown` with reason code `pending` at once, and the caller looks
/// the payment up later by `out_trade_no` (`lookup`), on its own schedule; the payment
/// notification may settle it sooner. A repeat call (`attempt > 1`) queries before applying.
public struct WeChatAdapter: ChannelAdapter {
    public let channel = Channel.wechat
    private let configuration: WeChatConfiguration
    private let timeout: Duration
    private let client: HTTPClient
    private let logger: Logger

    public init(configuration: WeChatConfiguration, timeout: Duration, client: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.timeout = timeout
        self.client = client
        self.logger = logger
    }

    public func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        guard request.currency == .cny else {
            return .declined(Reason(code: "unsupported_currency", message: "wechat pay contract deduction charges CNY; this order is in \(request.currency.code)"))
        }
        // A repeat may follow a call whose outcome is unknown, or a deduction still pending: ask first.
        if request.attempt > 1 {
            switch await query(request) {
            case .paid(let transactionID): return .succeeded(reference: transactionID)
            case .failed(let reason): return .declined(reason)
            case .pending: return .unknown(Self.pending)
            case .unknown(let reason): return .unknown(reason)
            case .paidOnOtherTerms(let transactionID, let reason): return .unknown(reason, reference: transactionID)
            // The earlier call's fate is not known, so no deduction goes out now: this is no
            // attempt, and the payment tries again later (invariant 7).
            case .unanswered(let reason):
                return .notSent(Reason(code: reason.code, message: "the query before a repeat got no answer (\(reason.message)); no deduction sent"))
            case .notFound: break
            }
        }
        return await apply(request)
    }

    public func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        switch await query(request) {
        case .paid(let transactionID): .paid(reference: transactionID)
        case .notFound, .failed: .notPaid
        case .pending: .unknown(Self.pending)
        case .unknown(let reason), .unanswered(let reason): .unknown(reason)
        case .paidOnOtherTerms(let transactionID, let reason): .paidOnOtherTerms(reference: transactionID, reason)
        }
    }

    // MARK: Calls

    private func apply(_ request: ChargeRequest) async -> ChannelOutcome {
        let body = Self.applyBody(request, configuration: configuration)
        switch await call(.POST, path: "/v3/papay/pay/transactions/apply", body: body) {
        case .failure(let failure): return failure.outcome
        case .success(let (status, document)):
            switch status {
            case 200, 204: return .unknown(Reason(code: "pending", message: "wechat pay accepted the deduction; its result comes by query or notification"))
            default: return WeChatClassifier.error(status: status, code: document?.text("code"), message: document?.text("message"))
            }
        }
    }

    /// A deduction WeChat Pay holds but has not settled (`NOTPAY`, `USERPAYING`).
    static let pending = Reason(code: "pending", message: "wechat pay deduction is still pending")

    enum TradeState: Equatable {
        case paid(String), pending, failed(Reason), notFound, unknown(Reason)
        /// Paid, on other terms than the payment's (`ReportedTerms`).
        case paidOnOtherTerms(String, Reason)
        /// The query itself failed (no answer, an error answer): nothing is known of the trade.
        case unanswered(Reason)
    }

    private func query(_ request: ChargeRequest) async -> TradeState {
        let path = "/v3/pay/transactions/out-trade-no/\(request.idempotencyKey)?mchid=\(FormEncoding.escape(configuration.mchid))"
        switch await call(.GET, path: path, body: "") {
        case .failure(let failure): return .unanswered(failure.outcome.reason ?? Reason(code: "wechat_query_failed", message: "wechat pay query failed"))
        case .success(let (status, document)):
            // Only WeChat Pay's own "never created" (the answer is verified) says nothing exists.
            if status == 404, document?.text("code") == "ORDER_NOT_EXIST" { return .notFound }
            guard status == 200, let document else {
                return .unanswered(Reason(code: document?.text("code") ?? "wechat_http_\(status)", message: "wechat pay query answered HTTP \(status)"))
            }
            let state = WeChatClassifier.tradeState(document.text("trade_state"), transactionID: document.text("transaction_id"))
            if case .paid(let transactionID) = state, let mismatch = Self.termsMismatch(document, request, configuration: configuration, what: "wechat pay's query of transaction \(transactionID)") {
                return .paidOnOtherTerms(transactionID, mismatch)
            }
            return state
        }
    }

    /// Why a transaction in `document` is not this payment's charge (`ReportedTerms`), or nil:
    /// its `amount.total` (fen), `amount.currency`, `mchid` and `appid` must be ours.
    static func termsMismatch(_ document: JSONValue, _ request: ChargeRequest, configuration: WeChatConfiguration, what: String) -> Reason? {
        WeChatProtocol.reportedTerms(document, mchid: configuration.mchid, appid: configuration.appid)
            .mismatch(amount: request.amount, currency: request.currency, what: what)
    }

    static func applyBody(_ request: ChargeRequest, configuration: WeChatConfiguration) -> String {
        EventJSON.text(WeChatProtocol.Deduction(
            appid: configuration.appid, outTradeNo: request.idempotencyKey,
            description: String("Order \(request.orderID) item \(request.itemID)".prefix(127)),
            transactionNotifyURL: configuration.notifyURL, contractID: request.paymentMethod,
            amount: .init(total: request.amount, currency: request.currency.code)))
    }

    /// One signed call: the HTTP status and the verified body (nil when empty), or how it failed.
    private func call(_ method: HTTPMethod, path: String, body: String) async -> Result<(Int, JSONValue?), ChannelCallFailure> {
        var http = HTTPClientRequest(url: configuration.baseURL + path)
        http.method = method
        let timestamp = Int64(Date().timeIntervalSince1970)
        http.headers.add(name: "Authorization", value: WeChatProtocol.authorization(
            mchid: configuration.mchid, serialNo: configuration.serialNo, method: method.rawValue, canonicalURL: path, body: body,
            timestamp: timestamp, nonce: WeChatProtocol.nonce(), key: configuration.merchantPrivateKey))
        http.headers.add(name: "Accept", value: "application/json")
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "User-Agent", value: "cashier/1.0")
        if !body.isEmpty { http.body = .bytes(ByteBuffer(string: body)) }
        let answer: ChannelHTTP.Answer
        do {
            answer = try await ChannelHTTP.exchange(client, http, timeout: timeout, maxBody: 1 << 20)
        } catch {
            return .failure(ChannelCallFailure(ChannelHTTP.transportOutcome(error, channel: "wechat pay")))
        }
        let (status, headers, bytes) = (answer.status, answer.headers, answer.body)
        if let refusal = WeChatProtocol.verify(
            timestamp: headers.first(name: "Wechatpay-Timestamp"), nonce: headers.first(name: "Wechatpay-Nonce"),
            signature: headers.first(name: "Wechatpay-Signature"), serial: headers.first(name: "Wechatpay-Serial"), body: bytes,
            platformKeys: configuration.platformKeys)
        {
            logger.warning("wechat pay answer not believed: \(refusal)", metadata: ["path": "\(path)"])
            return .failure(ChannelCallFailure(.unknown(Reason(code: "wechat_unverified_answer", message: "wechat pay answer not believed: \(refusal)"))))
        }
        return .success((status, bytes.isEmpty ? nil : try? JSONParser.parse(bytes)))
    }
}

/// A channel call that produced no usable answer, already classified.
struct ChannelCallFailure: Error {
    let outcome: ChannelOutcome
    init(_ outcome: ChannelOutcome) { self.outcome = outcome }
}

/// What WeChat Pay's answers mean for the payment (CHANNELS.md, "Errors" and "Query").
public enum WeChatClassifier {
    static let terminal: Set<String> = [
        "PARAM_ERROR", "INVALID_REQUEST", "ORDER_CLOSED", "SIGN_ERROR", "NOTENOUGH", "TRADE_ERROR", "RULE_LIMIT", "ACCOUNT_ERROR", "NO_AUTH",
    ]

    public static func error(status: Int, code: String?, message: String?) -> ChannelOutcome {
        let reason = Reason(code: code ?? "wechat_http_\(status)", message: "wechat pay \(status) \(code ?? ""): \(message ?? "")")
        if status == 429 { return .notProcessed(reason) }  // rate limited: nothing done
        if status >= 500 { return .unknown(reason) }  // retry with the same out_trade_no, query first
        // OUT_TRADE_NO_USED says the trade exists: what became of it is for the query to say,
        // never a buyer-visible failure (the contract lists it as terminal; this is the safe reading).
        if code == "OUT_TRADE_NO_USED" { return .unknown(reason) }
        if let code, terminal.contains(code) { return .declined(reason) }
        return .unknown(reason)
    }

    static func tradeState(_ state: String?, transactionID: String?) -> WeChatAdapter.TradeState {
        switch state {
        case "SUCCESS", "REFUND": return .paid(transactionID ?? "")
        case "NOTPAY", "USERPAYING": return .pending
        case "CLOSED", "REVOKED", "PAYERROR":
            return .failed(Reason(code: "wechat_\(state!.lowercased())", message: "wechat pay trade is \(state!)"))
        default: return .unknown(Reason(code: "wechat_state_\(state ?? "missing")", message: "wechat pay trade state \(state ?? "missing")"))
        }
    }
}
