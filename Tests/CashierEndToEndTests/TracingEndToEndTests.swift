import CashierCore
import Foundation
import Kafka
import Testing

/// Traces of one order, exported by a real `cashier worker` over OTLP/HTTP to a local receiver.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct TracingEndToEndTests {
    @Test func oneOrdersSpansJoinTheTraceOfItsTraceparent() async throws {
        let pipeline = try await Pipeline.shared()
        let receiver = try await OTLPReceiver.start()
        defer { receiver.stop() }
        let stage = try await Stage(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"])
        let worker = try await stage.worker("traced-worker")
        #expect(worker.log.contains("tracing on"))
        // Without OTEL_EXPORTER_OTLP_ENDPOINT tracing is off.
        #expect(!pipeline.worker.log.contains("tracing on"))

        let traceID = Self.randomHex(bytes: 16)
        let upstreamSpan = Self.randomHex(bytes: 8)
        let traceparent = "00-\(traceID)-\(upstreamSpan)-01"
        let order = pipeline.order("traced")
        _ = try await stage.producer.send(OutgoingMessage(
            topic: "orders.created", key: Array(order.orderID.utf8), value: Array(order.json().utf8),
            headers: [KafkaHeader(name: "traceparent", text: traceparent)]))

        let expected: Set<String> = ["order", "accept", "channel call", "settle", "publish"]
        try await eventually("the order's spans to reach the receiver", timeout: .seconds(30)) {
            expected.isSubset(of: receiver.spans(ofTrace: traceID).map(\.name))
        }
        let spans = Dictionary(receiver.spans(ofTrace: traceID).map { ($0.name, $0) }) { first, _ in first }
        let root = try #require(spans["order"])
        // The order span continues the upstream producer's span; each step is its child.
        #expect(root.parentSpanID == upstreamSpan)
        #expect(root.attributes["order_id"] == order.orderID)
        #expect(root.attributes["channel"] == "card")
        for step in ["accept", "channel call", "settle"] {
            #expect(spans[step]?.parentSpanID == root.spanID, "\(step) is a child of the order span")
            #expect(spans[step]?.attributes["order_id"] == order.orderID)
        }
        let (accept, call, settle) = try (#require(spans["accept"]), #require(spans["channel call"]), #require(spans["settle"]))
        #expect(accept.startNanoseconds <= call.startNanoseconds && call.startNanoseconds <= settle.startNanoseconds)
        #expect(call.attributes["attempt"] == "1" && call.attributes["outcome"] == "succeeded")
        #expect(!call.attributes["payment_id", default: ""].isEmpty)
        // The relay's publication is parented through the traceparent stored with the outbox row.
        let publish = try #require(spans["publish"])
        #expect(publish.parentSpanID == upstreamSpan)
        #expect(publish.attributes["outcome"] == "delivered")
        // No secret or credential in any attribute.
        for span in spans.values {
            #expect(!span.attributes.values.contains { $0.contains("sk_test") || $0.contains("pm_card") }, "\(span.name)")
        }
    }

    @Test func aRetryIsASpanOfTheOrdersTraceWithItsOwnCall() async throws {
        let pipeline = try await Pipeline.shared()
        let receiver = try await OTLPReceiver.start()
        defer { receiver.stop() }
        let stage = try await Stage(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"])
        let worker = try await stage.worker("traced-worker")
        let retryWorker = try await stage.retryWorker("traced-retry")
        #expect(worker.log.contains("tracing on") && retryWorker.log.contains("tracing on"))

        let traceID = Self.randomHex(bytes: 16)
        let upstreamSpan = Self.randomHex(bytes: 8)
        // The sandbox answers 503 to the first call of this key: a retry, then a success.
        let order = pipeline.order("traced_retry", paymentMethod: "pm_sandbox_flaky_1")
        _ = try await stage.producer.send(OutgoingMessage(
            topic: "orders.created", key: Array(order.orderID.utf8), value: Array(order.json().utf8),
            headers: [KafkaHeader(name: "traceparent", text: "00-\(traceID)-\(upstreamSpan)-01")]))

        try await eventually("the retry's spans to reach the receiver", timeout: .seconds(30)) {
            let spans = receiver.spans(ofTrace: traceID)
            return spans.contains { $0.name == "retry" } && spans.filter { $0.name == "channel call" }.count == 2
                && spans.filter { $0.name == "publish" }.count == 2
        }
        let spans = receiver.spans(ofTrace: traceID)
        let root = try #require(spans.first { $0.name == "order" })
        let retry = try #require(spans.first { $0.name == "retry" })
        #expect(root.parentSpanID == upstreamSpan)
        #expect(retry.parentSpanID == upstreamSpan, "parented through the traceparent stored with the payment")
        #expect(retry.attributes["attempt"] == "1" && retry.attributes["order_id"] == order.orderID)
        let calls = spans.filter { $0.name == "channel call" }
        let first = try #require(calls.first { $0.parentSpanID == root.spanID })
        let second = try #require(calls.first { $0.parentSpanID == retry.spanID })
        #expect(first.attributes["attempt"] == "1" && first.attributes["outcome"] == "retryable")
        #expect(second.attributes["attempt"] == "2" && second.attributes["outcome"] == "succeeded")
        #expect(spans.contains { $0.name == "settle" && $0.parentSpanID == retry.spanID })
        // The retry message and the result: both published in the order's trace.
        let destinations = Set(spans.filter { $0.name == "publish" }.map { $0.attributes["messaging.destination.name"] ?? "" })
        #expect(destinations == ["payments.retry", "payments.results"])
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
