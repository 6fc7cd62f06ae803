import CashierCore
import Foundation
public import Hummingbird
public import Logging
import NIOCore
import HTTPTypes

/// `cashier sandbox`: an HTTP server speaking the channels' wire protocols, with fault
/// injection and `GET /_sandbox/charges` so tests and the demo can count real charges.
public struct SandboxServer: Sendable {
    public let card: CardSimulator
    private let configuration: SandboxConfiguration

    public init(configuration: SandboxConfiguration) {
        self.configuration = configuration
        self.card = CardSimulator(configuration: configuration)
    }

    /// Builds the HTTP application. `onListening` receives the bound port (useful with port 0).
    public func application(
        host: String, port: Int, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        let card = self.card
        router.post("/v1/payment_intents") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let form = FormEncoding.decode(String(buffer: body))
            let answer = await card.create(
                authorization: request.headers[.authorization],
                idempotencyKey: request.headers[HTTPField.Name("Idempotency-Key")!],
                form: form)
            if answer.delay > .zero { try? await Task.sleep(for: answer.delay) }
            return Self.json(answer.status, answer.body, headers: answer.headers)
        }
        // Stripe's search API, for the one query Cashier makes: `metadata['order_id']:'…'`.
        router.get("/v1/payment_intents/search") { request, _ -> Response in
            let query = request.uri.queryParameters.get("query") ?? ""
            let prefix = "metadata['order_id']:'"
            guard query.hasPrefix(prefix), query.hasSuffix("'"), query.count > prefix.count else {
                return Self.json(400, #"{"error":{"type":"invalid_request_error","code":"parameter_invalid","message":"the sandbox supports only metadata['order_id']:'…' queries"}}"#)
            }
            let orderID = String(query.dropFirst(prefix.count).dropLast())
            let found = card.intents.filter { $0.orderID == orderID }.map(CardSimulator.intentJSON)
            return Self.json(200, #"{"object":"search_result","has_more":false,"data":["# + found.joined(separator: ",") + "]}")
        }
        router.get("/v1/payment_intents/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            guard let intent = card.intent(id: id) else {
                return Self.json(404, #"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}"#)
            }
            return Self.json(200, CardSimulator.intentJSON(intent))
        }
        router.get("/_sandbox/charges") { request, _ -> Response in
            let orderFilter = request.uri.queryParameters.get("order_id")
            let intents = card.intents.filter { orderFilter == nil || $0.orderID == orderFilter }
            return Self.json(200, Self.chargesJSON(intents))
        }
        router.get("/healthz") { _, _ in "ok" }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "cashier-sandbox"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    static func json(_ status: Int, _ body: String, headers: [(String, String)] = []) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func chargesJSON(_ intents: [CardIntent]) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("count", Int64(intents.count))
        writer.member("succeeded", Int64(intents.filter { $0.status == "succeeded" }.count))
        writer.key("charges")
        writer.beginArray()
        for intent in intents {
            writer.beginObject()
            writer.member("id", intent.id)
            writer.member("channel", "card")
            writer.member("idempotency_key", intent.idempotencyKey)
            writer.member("order_id", intent.orderID)
            writer.member("amount", intent.amount)
            writer.member("currency", intent.currency)
            writer.member("payment_method", intent.paymentMethod)
            writer.member("status", intent.status)
            writer.member("created_ms", intent.createdAtMilliseconds)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.text
    }
}
