import CashierOps
import Hummingbird
import HummingbirdTesting
import Metrics
import NIOCore
import Testing

/// `/healthz`, `/readyz` and `/metrics` through Hummingbird's router test mode: the routes are
/// the point here, not the socket (binding is covered by the end-to-end tests).
@Suite struct OpsRoutesTests {
    struct Failure: Error {}

    static func application(_ readiness: Readiness = Readiness()) -> some ApplicationProtocol {
        let router = Router()
        OpsServer.routes(router, readiness: readiness)
        return Application(router: router)
    }

    @Test func healthzAnswersOk() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok\n")
            }
        }
    }

    @Test func readyzIsOkWhenEveryCheckPasses() async throws {
        let readiness = Readiness(checks: [("postgres", { true }), ("kafka group g joined", { true })])
        try await Self.application(readiness).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain")
                #expect(String(buffer: response.body) == "postgres: ok\nkafka group g joined: ok\n")
            }
        }
    }

    @Test func readyzIs503AndNamesTheCheckThatFailedOrThrew() async throws {
        let readiness = Readiness(checks: [("postgres", { throw Failure() }), ("relay", { false }), ("group", { true })])
        try await Self.application(readiness).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == "postgres: not ready\nrelay: not ready\ngroup: ok\n")
            }
        }
    }

    @Test func aCheckThatHangsIsNotReadyAfterItsTimeLimit() async throws {
        let readiness = Readiness(checks: [("stuck", {
            try await Task.sleep(for: .seconds(30))
            return true
        })])
        let start = ContinuousClock.now
        try await Self.application(readiness).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == "stuck: not ready\n")
            }
        }
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func metricsRendersThePrometheusRegistry() async throws {
        MetricsSetup.bootstrap()
        Counter(label: "cashier_ops_routes_test_total").increment(by: 3)
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4")
                #expect(String(buffer: response.body).contains("cashier_ops_routes_test_total 3"))
            }
        }
    }
}
