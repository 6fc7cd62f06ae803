import CashierWorker
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import Metrics
import NIOCore
import Prometheus

/// Metrics for the whole process: swift-metrics bootstrapped with a Prometheus registry, once.
enum MetricsSetup {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        ]
        MetricsSystem.bootstrap(factory)
    }()

    static func bootstrap() { _ = bootstrapped }
}

/// What `/readyz` checks: each a name and a check that throws (or returns false) when not ready.
struct Readiness: Sendable {
    var checks: [(name: String, check: @Sendable () async throws -> Bool)] = []

    /// Runs every check with a time limit; (all ready, one line per check).
    func evaluate() async -> (Bool, [String]) {
        var ready = true
        var lines: [String] = []
        for (name, check) in checks {
            let passed = await withTaskGroup(of: Bool?.self) { group -> Bool in
                group.addTask { (try? await check()) ?? false }
                group.addTask {
                    try? await Task.sleep(for: .seconds(2))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? false
            }
            ready = ready && passed
            lines.append("\(name): \(passed ? "ok" : "not ready")")
        }
        return (ready, lines)
    }
}

/// The HTTP listener of every long-running process: `/healthz` (alive), `/readyz` (its
/// dependencies are usable), `/metrics` (Prometheus text format).
enum OpsServer {
    static func routes(_ router: Router<BasicRequestContext>, readiness: Readiness) {
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

    static func application(
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
