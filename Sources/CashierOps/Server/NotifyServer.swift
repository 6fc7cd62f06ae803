public import CashierWorker
public import Hummingbird
import HTTPTypes
public import Logging
import NIOCore

/// The HTTP endpoint the channels call with payment notifications: `POST /notify/alipay`,
/// `POST /notify/wechat`, with the operations routes (`/healthz`, `/readyz`, `/metrics`).
public enum NotifyServer {
    public static func application(
        receiver: NotificationReceiver, host: String, port: Int, readiness: Readiness = Readiness(), logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.post("/notify/alipay") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            return response(await receiver.alipay(formBody: String(buffer: body)))
        }
        router.post("/notify/wechat") { request, _ -> Response in
            var body = try await request.body.collect(upTo: 1 << 16)
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { request.headers[$0] } }
            return response(await receiver.wechat(
                timestamp: header("Wechatpay-Timestamp"), nonce: header("Wechatpay-Nonce"), signature: header("Wechatpay-Signature"),
                serial: header("Wechatpay-Serial"), body: bytes))
        }
        OpsServer.routes(router, readiness: readiness)
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "cashier-notify"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
    }

    private static func response(_ reply: NotificationReceiver.Reply) -> Response {
        var fields = HTTPFields()
        if !reply.body.isEmpty { fields[.contentType] = reply.contentType }
        return Response(status: .init(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
    }
}
