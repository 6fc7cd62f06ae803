import AsyncHTTPClient
import CashierCore
import Foundation
import Kafka
import NIOCore
import Testing

/// What the people on call rely on: probes, metrics, logs, trace context, graceful shutdown.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct OperationsEndToEndTests {
    func get(_ url: String) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 24)
        return (Int(response.status.code), String(buffer: body))
    }

    @Test func probesAndMetricsAreServedInPrometheusFormat() async throws {
        let pipeline = try await Pipeline.shared()
        let http = try await pipeline.worker.value(after: "http=")
        let orders = (0..<5).map { pipeline.order("metrics\($0)") }
        for order in orders { try await pipeline.publish(order) }
        try await pipeline.waitForTerminal(orders.map(\.orderID))

        #expect(try await get(http + "/healthz").0 == 200)
        let (readyStatus, ready) = try await get(http + "/readyz")
        #expect(readyStatus == 200 && ready.contains("postgres (reachable, schema current): ok") && ready.contains("joined: ok"), "\(ready)")

        let (status, text) = try await get(http + "/metrics")
        #expect(status == 200)
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else {
                Issue.record("not a Prometheus sample line: \(line)")
                continue
            }
            samples[String(parts[0])] = value
        }
        #expect((samples[#"cashier_payments_total{channel="card",status="succeeded"}"#] ?? 0) >= 5)
        #expect((samples[#"cashier_channel_calls_total{channel="card",outcome="succeeded"}"#] ?? 0) >= 5)
        #expect(samples[#"cashier_channel_success_rate{channel="card",window="1m"}"#] != nil)
        #expect(samples[#"cashier_channel_failure_rate{channel="card",window="15m"}"#] != nil)
        #expect(samples.keys.contains { $0.hasPrefix("cashier_orders_consumed_total") })
        #expect(samples.keys.contains { $0.hasPrefix("cashier_circuit_breaker_open") })
        #expect(text.contains("# TYPE cashier_channel_call_duration_seconds histogram"))
        #expect(text.contains("# TYPE cashier_order_to_result_seconds histogram"))
    }

    @Test func readinessFlipsWhenPostgresGoesAwayAndBack() async throws {
        let pipeline = try await Pipeline.shared()
        let postgres = try await OwnPostgres.start("readyz")
        defer { postgres.stop() }
        let url = postgres.url
        #expect(try await CashierProcess.run(["migrate", "--database-url", url]).0 == 0)
        var environment = Pipeline.workerEnvironment(pipeline.sandboxURL)
        environment["CASHIER_DATABASE_URL"] = url
        let notify = try CashierProcess("notify-readyz", ["notify-server", "--port", "0", "--host", "127.0.0.1"], environment: environment)
        let base = try await notify.value(after: "notify=")
        try await eventually("ready") { try await get(base + "/readyz").0 == 200 }

        try await postgres.pause()
        try await eventually("not ready while Postgres is down", timeout: .seconds(20)) { try await get(base + "/readyz").0 == 503 }
        #expect(try await get(base + "/healthz").0 == 200, "alive all the same")
        try await postgres.resume()
        try await eventually("ready again", timeout: .seconds(30)) { try await get(base + "/readyz").0 == 200 }
        notify.signal(SIGTERM)
        #expect(await notify.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test func logsAreJSONLinesWithTheOrderAndNeverASecret() async throws {
        let pipeline = try await Pipeline.shared()
        // A retried order logs its hand-over with its ids.
        let order = pipeline.order("logged", paymentMethod: "pm_sandbox_flaky_1")
        try await pipeline.publish(order)
        try await pipeline.waitForTerminal([order.orderID])
        let log = pipeline.worker.log
        let lines = log.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            guard case .object? = try? JSONParser.parse(Array(line.utf8)) else {
                Issue.record("not a JSON line: \(line.prefix(200))")
                break
            }
        }
        #expect(lines.contains { $0.contains(#""order_id":"\#(order.orderID)""#) })
        let secrets = try Pipeline.settings(pipeline.keysDirectory + "/cashier.env")
        for secret in ["sk_test_e2e", secrets["CASHIER_WECHAT_APIV3_KEY"] ?? "unset"] {
            #expect(!log.contains(secret), "a secret reached the log")
            #expect(!pipeline.retryWorker.log.contains(secret))
        }
    }

    @Test func traceContextArrivesInTheResultEventHeaders() async throws {
        let pipeline = try await Pipeline.shared()
        let direct = pipeline.order("traced")
        let retried = pipeline.order("traced_retry", paymentMethod: "pm_sandbox_flaky_1")
        let parents = [
            direct.orderID: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            retried.orderID: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ]
        for order in [direct, retried] {
            try await pipeline.publish(Array(order.json().utf8), key: order.orderID, headers: [KafkaHeader(name: "traceparent", text: parents[order.orderID]!)])
        }
        try await pipeline.waitForTerminal([direct.orderID, retried.orderID])
        for order in [direct, retried] {
            #expect(try await pipeline.headers(of: order.orderID)["traceparent"] == parents[order.orderID])
        }
        #expect(try await pipeline.headers(of: retried.orderID, topic: "payments.retry")["traceparent"] == parents[retried.orderID])
    }

    /// A header is not checked by the event's decoder: a `traceparent` with a NUL (or anything
    /// that is not a W3C trace context) is dropped, and the order is charged as usual instead of
    /// failing its accept and ending as a dead letter with no order behind it.
    @Test func aTraceparentThatIsNotOneIsDroppedAndTheOrderCharged() async throws {
        let pipeline = try await Pipeline.shared()
        let order = pipeline.order("bad_traceparent")
        try await pipeline.publish(
            Array(order.json().utf8), key: order.orderID,
            headers: [KafkaHeader(name: "traceparent", text: "00-4bf92f3577b34da6a3ce929d0e0e\u{0}736-00f067aa0ba902b7-01")])
        try await pipeline.waitForTerminal([order.orderID])
        #expect(try await pipeline.payment(order.orderID)?.state == "succeeded")
        #expect(try await pipeline.headers(of: order.orderID)["traceparent"] == nil)
        #expect(try await pipeline.count("SELECT count(*)::integer FROM dead_letters WHERE reason_code = 'storage_error' AND payload LIKE '%bad_traceparent%'") == 0)
    }

    @Test func gracefulShutdownUnderLoadCommitsEverythingAndLosesNothing() async throws {
        let pipeline = try await Pipeline.shared()
        let worker = try CashierProcess(
            "worker-shutdown", Pipeline.workerArguments(brokers: pipeline.brokers, group: pipeline.groupID),
            environment: Pipeline.workerEnvironment(pipeline.sandboxURL))
        try await eventually("the new worker to get partitions") { worker.log.contains("partitions assigned") }
        // Each charge is held 300 ms at the channel: the stop lands while calls are in flight.
        let orders = (0..<150).map { pipeline.order("shutdown\($0)", paymentMethod: "pm_sandbox_hold_300") }
        for order in orders { try await pipeline.publish(order) }
        let name = "%/\(worker.pid)"
        try await eventually("the worker to be charging") {
            try await pipeline.count("SELECT count(*)::integer FROM payment_attempts WHERE worker LIKE '\(name)'") > 0
        }
        worker.signal(SIGTERM)
        let status = await worker.waitForExit(timeout: .seconds(35))
        #expect(status == 0, "log:\n\(worker.log.suffix(2000))")
        #expect(try await pipeline.count(
            "SELECT count(*)::integer FROM payment_attempts WHERE worker LIKE '\(name)' AND finished_at IS NULL") == 0,
            "every call the stopping worker made has its outcome recorded")

        try await pipeline.waitForTerminal(orders.map(\.orderID), timeout: .seconds(90))
        for order in orders {
            #expect(try await pipeline.charges(order.orderID).count == 1, "\(order.orderID)")
        }
        let results = try await pipeline.results(for: Set(orders.map(\.orderID)), atLeast: orders.count)
        #expect(results.count == orders.count)
        #expect(results.values.allSatisfy { Set($0.map { "\($0)" }).count == 1 })
    }
}

/// Runs a helper program (the throwaway Postgres script) to completion.
///
/// Through `system(3)`, not Foundation's `Process`: a program that leaves a daemon behind
/// (Postgres) keeps Foundation's exit detection waiting forever.
enum Shell {
    @discardableResult
    static func run(_ arguments: [String]) async throws -> String {
        let path = NSTemporaryDirectory() + "cashier-shell-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let command = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let status = system("\(command) > '\(path)' 2>/dev/null")
        guard status == 0 else { throw TestFailure("\(arguments.joined(separator: " ")) failed (\(status))") }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}
