public import _CryptoExtras
public import AsyncHTTPClient
public import CashierCore
import Foundation
public import Logging
import NIOCore

/// Where and how to reach Alipay's OpenAPI gateway.
public struct AlipayConfiguration: Sendable {
    /// e.g. `https://openapi.alipay.com/gateway.do`, or the sandbox's `http://127.0.0.1:PORT/gateway.do`.
    public var gatewayURL: String
    public var appID: String
    public var appPrivateKey: _RSA.Signing.PrivateKey
    public var alipayPublicKey: _RSA.Signing.PublicKey
    /// Where Alipay sends the asynchronous payment notification (optional).
    public var notifyURL: String?

    public init(gatewayURL: String, appID: String, appPrivateKey: _RSA.Signing.PrivateKey, alipayPublicKey: _RSA.Signing.PublicKey, notifyURL: String? = nil) {
        self.gatewayURL = gatewayURL
        self.appID = appID
        self.appPrivateKey = appPrivateKey
        self.alipayPublicKey = alipayPublicKey
        self.notifyURL = notifyURL
    }
}

/// Alipay withholding (`alipay.trade.pay`, `GENERAL_WITHHOLDING`) and `alipay.trade.query`,
/// RSA2-signed, every answer's signature verified over its raw bytes. `out_trade_no` is the
/// payment's idempotency key. An answer that fails verification is never believed.
public struct AlipayAdapter: ChannelAdapter {
    public let channel = Channel.alipay
    private let configuration: AlipayConfiguration
    private let timeout: Duration
    private let client: HTTPClient
    private let logger: Logger

    public init(configuration: AlipayConfiguration, timeout: Duration, client: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.timeout = timeout
        self.client = client
        self.logger = logger
    }

    public func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        guard request.currency == .cny else {
            return .declined(Reason(code: "unsupported_currency", message: "alipay withholding charges CNY; this order is in \(request.currency.code)"))
        }
        // A repeat may follow a call whose outcome is unknown: ask first.
        if request.attempt > 1 {
            switch await query(request) {
            case .answered(.paid(let tradeNo)): return .succeeded(reference: tradeNo)
            case .answered(.unknown(let reason)): return .unknown(reason)
            case .answered(.paidOnOtherTerms(let tradeNo, let reason)): return .unknown(reason, reference: tradeNo)
            case .answered(.notPaid): break
            // The earlier call's fate is not known, so no charge goes out now: this is no
            // attempt, and the payment tries again later (invariant 7).
            case .unanswered(let reason):
                return .notSent(Reason(code: reason.code, message: "the query before a repeat got no answer (\(reason.message)); no charge sent"))
            }
        }
        let answer: JSONValue
        switch await call("alipay.trade.pay", biz: Self.payContent(request), responseKey: "alipay_trade_pay_response") {
        case .failure(let failure): return failure.outcome
        case .success(let value): answer = value
        }
        let verdict = AlipayClassifier.pay(
            code: answer.text("code") ?? "", subCode: answer.text("sub_code"),
            message: answer.text("sub_msg") ?? answer.text("msg") ?? "", tradeNo: answer.text("trade_no"))
        switch verdict {
        case .paid(let tradeNo):
            if let mismatch = Self.termsMismatch(answer, request, what: "alipay's pay answer for trade \(tradeNo)") {
                return .unknown(mismatch, reference: tradeNo)
            }
            return .succeeded(reference: tradeNo)
        case .declined(let reason): return .declined(reason)
        case .queryFirst(let reason):
            switch await lookup(request, reference: nil) {
            case .paid(let tradeNo): return .succeeded(reference: tradeNo)
            // Not paid *yet*: the call "may or may not have succeeded" (20000, SYSTEM_ERROR),
            // so it is unknown — looked up again once it had time to finish, then retried with
            // identical parameters — never a "nothing charged" that could end in `failed`.
            case .notPaid, .unknown: return .unknown(reason)
            case .paidOnOtherTerms(let tradeNo, let found): return .unknown(found, reference: tradeNo)
            }
        case .awaitQuery(let reason):
            switch await lookup(request, reference: nil) {
            case .paid(let tradeNo): return .succeeded(reference: tradeNo)
            // A trade on other terms under our out_trade_no is what a person must hear of.
            case .paidOnOtherTerms(let tradeNo, let found): return .unknown(found, reference: tradeNo)
            case .unknown, .notPaid: return .unknown(reason)
            }
        }
    }

    public func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        switch await query(request) {
        case .answered(let lookup): lookup
        case .unanswered(let reason): .unknown(reason)
        }
    }

    enum QueryAnswer {
        /// What the trade query said of the trade.
        case answered(PaymentLookup)
        /// The query itself failed (no answer, or an error code other than "no such trade").
        case unanswered(Reason)
    }

    private func query(_ request: ChargeRequest) async -> QueryAnswer {
        switch await call("alipay.trade.query", biz: EventJSON.text(["out_trade_no": request.idempotencyKey]), responseKey: "alipay_trade_query_response") {
        case .failure(let failure): return .unanswered(failure.outcome.reason ?? Reason(code: "alipay_query_failed", message: "alipay query failed"))
        case .success(let answer):
            let code = answer.text("code") ?? ""
            let lookup = AlipayClassifier.query(
                code: code, subCode: answer.text("sub_code"), tradeStatus: answer.text("trade_status"), tradeNo: answer.text("trade_no"))
            if code != "10000", case .unknown(let reason) = lookup { return .unanswered(reason) }
            if case .paid(let tradeNo) = lookup, let mismatch = Self.termsMismatch(answer, request, what: "alipay's query of trade \(tradeNo)") {
                return .answered(.paidOnOtherTerms(reference: tradeNo, mismatch))
            }
            return .answered(lookup)
        }
    }

    /// Why a success in `answer` is not this payment's charge (`ReportedTerms`), or nil. Alipay
    /// answers in CNY only and for the app that signed the call, so the amount is what is read.
    static func termsMismatch(_ answer: JSONValue, _ request: ChargeRequest, what: String) -> Reason? {
        let amount = answer.text("total_amount").flatMap { request.currency.minorAmount(fromMajorUnitString: $0) }
        return ReportedTerms(amount: amount, currency: nil).mismatch(amount: request.amount, currency: request.currency, what: what)
    }

    static func payContent(_ request: ChargeRequest) -> String {
        EventJSON.text(AlipayProtocol.PayContent(
            outTradeNo: request.idempotencyKey, totalAmount: request.currency.majorUnitString(request.amount),
            subject: AlipayProtocol.subject(itemID: request.itemID, orderID: request.orderID), productCode: "GENERAL_WITHHOLDING",
            agreementParams: .init(agreementNo: request.paymentMethod)))
    }

    /// The signed request parameters of one call (the `sign` last).
    func parameters(method: String, biz: String, now: Date = Date()) -> [(String, String)] {
        var parameters: [(String, String)] = [
            ("app_id", configuration.appID), ("method", method), ("format", "JSON"), ("charset", "utf-8"), ("sign_type", "RSA2"),
            ("timestamp", AlipayProtocol.timestamp(now)), ("version", "1.0"),
        ]
        if let notifyURL = configuration.notifyURL { parameters.append(("notify_url", notifyURL)) }
        parameters.append(("biz_content", biz))
        let content = AlipayProtocol.signingContent(parameters)
        parameters.append(("sign", RSASignature.sign(Array(content.utf8), with: configuration.appPrivateKey)))
        return parameters
    }

    /// One signed call; the verified `…_response` object, or how it failed.
    private func call(_ method: String, biz: String, responseKey: String) async -> Result<JSONValue, ChannelCallFailure> {
        let parameters = parameters(method: method, biz: biz)
        // The SDKs' layout: common parameters in the query string, biz_content in the body.
        let query = parameters.filter { $0.0 != "biz_content" }.map { "\($0.0)=\(FormEncoding.escape($0.1))" }.joined(separator: "&")
        var http = HTTPClientRequest(url: configuration.gatewayURL + (configuration.gatewayURL.contains("?") ? "&" : "?") + query)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded;charset=utf-8")
        http.body = .bytes(ByteBuffer(string: "biz_content=\(FormEncoding.escape(biz))"))
        let answer: ChannelHTTP.Answer
        do {
            answer = try await ChannelHTTP.exchange(client, http, timeout: timeout, maxBody: 1 << 20)
        } catch {
            return .failure(ChannelCallFailure(ChannelHTTP.transportOutcome(error, channel: "alipay gateway")))
        }
        guard answer.status == 200 else {
            return .failure(ChannelCallFailure(.unknown(Reason(code: "alipay_http_\(answer.status)", message: "alipay gateway answered HTTP \(answer.status)"))))
        }
        guard let (response, sign) = AlipayProtocol.signedResponse(in: answer.body, responseKey: responseKey),
            let sign, RSASignature.isValid(sign, for: response, with: configuration.alipayPublicKey),
            let document = try? JSONParser.parse(response)
        else {
            // Never believed: an unsigned or forged answer could say anything.
            logger.warning("alipay answer failed signature verification", metadata: ["method": "\(method)"])
            return .failure(ChannelCallFailure(.unknown(Reason(code: "alipay_unverified_answer", message: "alipay answer failed signature verification; not believed"))))
        }
        return .success(document)
    }
}

extension JSONValue {
    /// The string member `name`, if present.
    func text(_ name: String) -> String? {
        if case .string(let value)? = self[name] { value } else { nil }
    }
}
