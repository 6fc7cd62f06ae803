import AsyncHTTPClient
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
    public let alipay: AlipaySimulator?
    public let wechat: WeChatSimulator?
    private let configuration: SandboxConfiguration

    public init(configuration: SandboxConfiguration) throws {
        self.configuration = configuration
        self.card = CardSimulator(configuration: configuration)
        let notifier = Notifier(client: HTTPClient.shared, logger: Logger(label: "cashier.sandbox.notify"))
        if let keys = configuration.keys {
            alipay = AlipaySimulator(keys: keys, notifier: notifier)
            wechat = WeChatSimulator(keys: keys, settleDelay: configuration.wechatSettle, notifier: notifier)
        } else {
            alipay = nil
            wechat = nil
        }
    }

    /// Builds the HTTP application. `onListening` receives the bound port (useful with port 0).
    public func application(
        host: String, port: Int, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: SandboxRequestContext.self)
        let card = self.card
        router.post("/v1/payment_intents") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let form = FormEncoding.decode(String(buffer: body))
            let answer = await card.create(
                authorization: request.headers[.authorization],
                idempotencyKey: request.headers[HTTPField.Name("Idempotency-Key")!],
                form: form)
            switch answer.delivery {
            case .whole: break
            case .late(let delay): try? await Task.sleep(for: delay)
            case .stalled(let hold):
                let head = Self.json(answer.status, answer.body, headers: answer.headers).headers
                return StalledAnswer.response(status: answer.status, body: answer.body, headers: head, hold: hold, channel: context.channel)
            }
            return Self.json(answer.status, answer.body, headers: answer.headers)
        }
        // Stripe's search API, for the one query Cashier makes: `metadata['order_id']:'…'`.
        router.get("/v1/payment_intents/search") { request, _ -> Response in
            let query = request.uri.queryParameters.get("query") ?? ""
            let prefix = "metadata['order_id']:'"
            guard query.hasPrefix(prefix), query.hasSuffix("'"), query.count > prefix.count else {
                return Self.json(400, CardWire.Failure.text(
                    type: "invalid_request_error", code: "parameter_invalid", message: "the sandbox supports only metadata['order_id']:'…' queries"))
            }
            let orderID = String(query.dropFirst(prefix.count).dropLast())
            let found = card.intents.filter { $0.orderID == orderID }.map(CardWire.Intent.init)
            return Self.json(200, EventJSON.text(CardWire.SearchResult(data: found)))
        }
        router.get("/v1/payment_intents/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            guard let intent = card.intent(id: id) else {
                return Self.json(404, CardWire.Failure.text(type: "invalid_request_error", code: "resource_missing", message: "No such payment_intent"))
            }
            return Self.json(200, CardSimulator.intentJSON(intent))
        }
        router.get("/_sandbox/charges") { [alipay, wechat] request, _ -> Response in
            let orderFilter = request.uri.queryParameters.get("order_id")
            let charges = SandboxCharge.all(card: card, alipay: alipay, wechat: wechat).filter { orderFilter == nil || $0.orderID == orderFilter }
            return Self.json(200, SandboxCharge.json(charges))
        }
        let notConfigured = EventJSON.text(["error": "this sandbox has no Alipay/WeChat Pay keys: start it with --keys-dir DIR (write a set with `cashier sandbox keys --dir DIR`)"])
        router.post("/gateway.do") { [alipay] request, _ -> Response in
            guard let alipay else { return Self.json(503, notConfigured) }
            let body = try await request.body.collect(upTo: 1 << 20)
            let parameters = FormEncoding.decode(request.uri.query ?? "") + FormEncoding.decode(String(buffer: body))
            return Self.json(200, alipay.gateway(parameters), contentType: "text/html;charset=utf-8")
        }
        router.post("/v3/papay/pay/transactions/apply") { [wechat] request, _ -> Response in
            guard let wechat else { return Self.json(503, notConfigured) }
            var body = try await request.body.collect(upTo: 1 << 20)
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            let answer = wechat.apply(authorization: request.headers[.authorization], path: request.uri.description, body: bytes)
            return Self.json(answer.status, answer.body, headers: answer.headers)
        }
        router.get("/v3/pay/transactions/out-trade-no/:no") { [wechat] request, context -> Response in
            guard let wechat else { return Self.json(503, notConfigured) }
            let answer = wechat.query(
                authorization: request.headers[.authorization], path: request.uri.description, outTradeNo: context.parameters.get("no") ?? "")
            return Self.json(answer.status, answer.body, headers: answer.headers)
        }
        router.get("/healthz") { _, _ in "ok" }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "cashier-sandbox"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    static func json(_ status: Int, _ body: String, headers: [(String, String)] = [], contentType: String = "application/json") -> Response {
        var fields = HTTPFields()
        if !body.isEmpty { fields[.contentType] = contentType }
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
