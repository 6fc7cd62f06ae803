public import AsyncHTTPClient
public import CashierCore

public import Logging
import NIOCore

/// The card channel: a Stripe-compatible `POST /v1/payment_intents` (CHANNELS.md, "Card").
///
/// Every call carries `Idempotency-Key`, so repeating it after a timeout returns the saved
/// outcome instead of charging again.
public struct CardAdapter: ChannelAdapter {
    public let channel = Channel.card
    private let baseURL: String
    private let apiKey: String
    private let timeout: Duration
    private let client: HTTPClient
    private let logger: Logger

    /// - Parameter baseURL: e.g. `https://api.stripe.com` or the sandbox's `http://127.0.0.1:PORT`.
    public init(baseURL: String, apiKey: String, timeout: Duration, client: HTTPClient, logger: Logger) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.timeout = timeout
        self.client = client
        self.logger = logger
    }

    public func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        var http = HTTPClientRequest(url: "\(baseURL)/v1/payment_intents")
        http.method = .POST
        http.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        http.headers.add(name: "Idempotency-Key", value: request.idempotencyKey)
        http.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        http.body = .bytes(ByteBuffer(string: Self.form(request)))
        do {
            let answer = try await ChannelHTTP.exchange(client, http, timeout: timeout, maxBody: 1 << 20)
            let document = try? JSONParser.parse(answer.body)
            let shouldRetry = answer.headers.first(name: "Stripe-Should-Retry").map { $0 == "true" }
            let outcome = CardResponseClassifier.classify(status: answer.status, shouldRetry: shouldRetry, body: document)
            if case .succeeded(let id) = outcome, let document, let mismatch = Self.termsMismatch(document, request, what: "the card channel's answer for intent \(id)") {
                return .unknown(mismatch, reference: id)
            }
            return outcome
        } catch {
            return ChannelHTTP.transportOutcome(error, channel: "card channel")
        }
    }

    /// By the intent id when one is known (a `pi_…` reference, e.g. from a `processing`
    /// answer), otherwise through Stripe's search API by the order id in the metadata.
    /// `succeeded` is paid; `requires_payment_method`, `canceled` or no intent at all is not
    /// paid; `processing` (and any status this code does not know) is unknown.
    ///
    /// Stripe's search index lags writes by up to a minute, so "nothing found" by search right
    /// after a call whose answer was lost is weak evidence: a replay should still charge with the
    /// same idempotency key, which within the key's lifetime answers with the saved outcome
    /// instead of charging again.
    public func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        let byID = reference.map { $0.hasPrefix("pi_") } ?? false
        let url: String
        if let reference, byID {
            url = "\(baseURL)/v1/payment_intents/\(FormEncoding.escape(reference))"
        } else {
            let query = "metadata['order_id']:'\(request.orderID)'"
            url = "\(baseURL)/v1/payment_intents/search?query=\(FormEncoding.escape(query))"
        }
        var http = HTTPClientRequest(url: url)
        http.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        let answer: ChannelHTTP.Answer
        do {
            answer = try await ChannelHTTP.exchange(client, http, timeout: timeout, maxBody: 1 << 22)
        } catch {
            return .unknown(Reason(code: "lookup_failed", message: "card channel lookup failed: \(error)"))
        }
        let document = try? JSONParser.parse(answer.body)
        if byID, answer.status == 404, document?["error"]?["code"] == .string("resource_missing") { return .notPaid }
        guard answer.status == 200, let document else {
            return .unknown(Reason(code: "lookup_failed", message: "card channel answered the lookup with HTTP \(answer.status)"))
        }
        if byID { return Self.lookupVerdict([document], of: request) }
        // Only a readable, complete list says there is no charge: a 200 of another shape (an
        // error object, a page behind a redirect) says nothing, and neither does a first page.
        guard case .array(let data)? = document["data"] else {
            return .unknown(Reason(code: "lookup_unreadable", message: "card channel's search answer holds no list of intents"))
        }
        let verdict = Self.lookupVerdict(data, of: request)
        // "No charge" and "a charge on other terms" of a first page may both be wrong about the
        // pages behind it (ours may be there).
        let doubtful = switch verdict {
        case .notPaid, .paidOnOtherTerms: true
        case .paid, .unknown: false
        }
        if doubtful, case .bool(true)? = document["has_more"] {
            return .unknown(Reason(code: "lookup_incomplete", message: "card channel's search answer has more pages; neither no charge nor a charge on other terms is believed from the first"))
        }
        return verdict
    }

    /// What the intents found for an order say: any `succeeded` one on the payment's terms is
    /// the charge; otherwise any that is not finally unpaid keeps the answer open, and so does
    /// one that cannot be read or names another order (an answer that is not what was asked for
    /// proves nothing); otherwise a `succeeded` one on other terms (`ReportedTerms`) is a
    /// mismatch for a person.
    static func lookupVerdict(_ intents: [JSONValue], of request: ChargeRequest) -> PaymentLookup {
        var open: Reason?
        var mismatch: (id: String, reason: Reason)?
        for intent in intents {
            guard case .string(let id)? = intent["id"], case .string(let status)? = intent["status"],
                case .string(request.orderID)? = intent["metadata"]?["order_id"]
            else {
                open = open ?? Reason(code: "lookup_unreadable", message: "card channel's lookup answer holds an intent without an id, a status or this order's id")
                continue
            }
            switch status {
            case "succeeded":
                if let different = termsMismatch(intent, request, what: "the card channel's intent \(id)") {
                    mismatch = mismatch ?? (id, different)
                    continue
                }
                return .paid(reference: id)
            case "requires_payment_method", "canceled": continue
            default:
                let code = status == "processing" ? "processing" : "intent_\(status)"
                open = open ?? Reason(code: code, message: "card payment intent \(id) is \(status)")
            }
        }
        // An intent of ours still open may yet be the charge: looked up again before a person is
        // asked about one on other terms.
        if let open { return .unknown(open) }
        if let mismatch { return .paidOnOtherTerms(reference: mismatch.id, mismatch.reason) }
        return .notPaid
    }

    /// Why a succeeded intent is not this payment's charge (`ReportedTerms`), or nil: its
    /// `amount` (minor units) and `currency` (lower-case) must be the payment's.
    static func termsMismatch(_ intent: JSONValue, _ request: ChargeRequest, what: String) -> Reason? {
        let amount: Int64? = if case .number(let text)? = intent["amount"] { Int64(text) } else { nil }
        let currency: String? = if case .string(let code)? = intent["currency"] { code } else { "missing" }
        return ReportedTerms(amount: amount, currency: currency).mismatch(amount: request.amount, currency: request.currency, what: what)
    }

    /// The form body. Field names and order follow the protocol; values are percent-encoded.
    static func form(_ request: ChargeRequest) -> String {
        [
            ("amount", String(request.amount)),
            ("currency", request.currency.code.lowercased()),
            ("payment_method", request.paymentMethod),
            ("confirm", "true"),
            ("off_session", "true"),
            ("metadata[order_id]", request.orderID),
        ].map { "\(FormEncoding.escape($0.0))=\(FormEncoding.escape($0.1))" }.joined(separator: "&")
    }
}
