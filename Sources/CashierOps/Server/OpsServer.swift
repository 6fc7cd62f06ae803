import CashierWorker
public import Hummingbird
import HTTPTypes
public import Logging
import NIOCore

/// The HTTP listener of every long-running process: `/healthz` (alive), `/readyz` (its
/// dependencies are usable), `/metrics` (Prometheus text format).
public enum OpsServer {
    /// Adds the three routes to `router` (the notify server serves them beside its own).
    public static func routes(_ router: Router<BasicRequestContext>, readiness: Readiness) {
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let (ready, lines) = await readiness.evaluate()
            return text(ready ? 200 : 503, lines.joined(separator: "\n") + "\n")
        }
        router.get("/metrics") { _, _ -> Response in
            ChannelRates.shared.export()
            return text(200, MetricsSetup.registry.emitToString(), contentType: "text/plain; version=0.0.4")
        }
    }

    public static func application(
        host: String, port: Int, readiness: Readiness, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        routes(router, readiness: readiness)
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "cashier"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
    }

    private static func text(_ status: Int, _ body: String, contentType: String = "text/plain") -> Response {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
