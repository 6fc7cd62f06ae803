public import AsyncHTTPClient
public import CashierCore

public import Logging
import NIOCore
import NIOHTTP1

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
            let response = try await client.execute(http, timeout: .init(timeout))
            let body = try await response.body.collect(upTo: 1 << 20)
            let document = try? JSONParser.parse(body.readableBytesView)
            let shouldRetry = response.headers.first(name: "Stripe-Should-Retry").map { $0 == "true" }
            return CardResponseClassifier.classify(status: Int(response.status.code), shouldRetry: shouldRetry, body: document)
        } catch {
            return Self.classifyTransport(error)
        }
    }

    /// By the intent id when one is known, otherwise through Stripe's search API by the
    /// order id in the metadata. Stripe's search index lags writes by up to a minute, which is
    /// why a replay still charges with the same idempotency key: within the key's lifetime the
    /// channel answers with the saved outcome instead of charging again.
    public func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        let url: String
        if let reference, reference.hasPrefix("pi_") {
            url = "\(baseURL)/v1/payment_intents/\(FormEncoding.escape(reference))"
        } else {
            let query = "metadata['order_id']:'\(request.orderID)'"
            url = "\(baseURL)/v1/payment_intents/search?query=\(FormEncoding.escape(query))"
        }
        var http = HTTPClientRequest(url: url)
        http.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        do {
            let response = try await client.execute(http, timeout: .init(timeout))
            let body = try await response.body.collect(upTo: 1 << 22)
            guard response.status == .ok, let document = try? JSONParser.parse(body.readableBytesView) else {
                if response.status == .notFound { return .notPaid }
                return .unknown(Reason(code: "lookup_failed", message: "card channel answered the lookup with HTTP \(response.status.code)"))
            }
            let intents: [JSONValue] = if case .array(let data)? = document["data"] { data } else { [document] }
            for intent in intents {
                guard case .string(let id)? = intent["id"], case .string(let status)? = intent["status"] else { continue }
                guard case .string(request.orderID)? = intent["metadata"]?["order_id"] else { continue }
                if status == "succeeded" { return .paid(reference: id) }
                if status == "processing" {
                    return .unknown(Reason(code: "processing", message: "card channel still processing \(id)"))
                }
            }
            return .notPaid
        } catch {
            return .unknown(Reason(code: "lookup_failed", message: "card channel lookup failed: \(error)"))
        }
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

    static func classifyTransport(_ error: any Error) -> ChannelOutcome {
        if ChannelHTTP.failedBeforeSending(error) {
            return .retryable(Reason(code: "connection_failed", message: "card channel unreachable: \(error)"))
        }
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout {
            return .unknown(Reason(code: "timeout", message: "card channel did not answer in time; the charge may have happened"))
        }
        return .unknown(Reason(code: "transport_error", message: "card channel call failed midway (\(error)); the charge may have happened"))
    }
}

