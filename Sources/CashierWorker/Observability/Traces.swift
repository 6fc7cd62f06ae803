import CashierCore
import CashierStore
import Kafka
import Synchronization
public import Tracing

/// The spans of the pipelines, made through swift-distributed-tracing.
///
/// Every span of an order joins the trace of the order event's W3C `traceparent`: the order
/// worker reads it from the record's Kafka headers, the retry worker, the relay and a replay
/// from the copy stored with the payment or the outbox row. The stored copy is also what the
/// relay writes as the `traceparent` header of every event about the order, byte for byte
/// (other services read it), so a published event names the order event's span as its parent.
///
/// Until a tracer is bootstrapped through `bootstrap` (`cashier` does it when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set) the global tracer is swift-distributed-tracing's
/// `NoOpTracer`, and the helpers below skip even that: a no-op span through the global tracer
/// still costs about 0.4 µs (its lock and boxing), five of them per order. Attributes name the
/// order, never a secret or a credential.
public enum Traces {
    /// Makes `tracer` the process's tracer and turns the pipelines' spans on. Once per process.
    public static func bootstrap(_ tracer: some Tracer) {
        InstrumentationSystem.bootstrap(tracer)
        enabled.store(true, ordering: .releasing)
    }

    private static let enabled = Atomic<Bool>(false)
    private static let off: any Span = NoOpTracer.NoOpSpan(context: .topLevel)

    /// `Tracing.withSpan`, or the body with a no-op span while tracing is off.
    static func withSpan<T>(
        _ name: String, context: @autoclosure () -> ServiceContext = .current ?? .topLevel, ofKind kind: SpanKind = .internal,
        isolation: isolated (any Actor)? = #isolation, _ body: (any Span) async throws -> T
    ) async rethrows -> T {
        guard enabled.load(ordering: .acquiring) else { return try await body(off) }
        return try await Tracing.withSpan(name, context: context(), ofKind: kind, isolation: isolation, body)
    }

    /// `Tracing.startSpan`, or a no-op span while tracing is off.
    static func startSpan(_ name: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind) -> any Span {
        guard enabled.load(ordering: .acquiring) else { return off }
        return Tracing.startSpan(name, context: context(), ofKind: kind)
    }

    /// Span attribute names.
    enum Attribute {
        static let orderID = "order_id"
        static let paymentID = "payment_id"
        static let channel = "channel"
        static let attempt = "attempt"
        static let outcome = "outcome"
    }

    /// A context whose parent is the trace context in `headers`, if they carry one.
    static func context(from headers: [KafkaHeader]) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: KafkaHeadersExtractor())
        return context
    }

    /// A context whose parent is a stored `traceparent`, if there is one.
    static func context(traceparent: String?) -> ServiceContext {
        var context = ServiceContext.topLevel
        guard let traceparent else { return context }
        InstrumentationSystem.instrument.extract(traceparent, into: &context, using: TraceparentExtractor())
        return context
    }

    /// Names the payment on `span`: its order, payment, channel and attempt.
    static func describe(_ span: any Span, _ ticket: PaymentTicket) {
        guard span.isRecording else { return }
        span.attributes[Attribute.orderID] = ticket.order.orderID
        span.attributes[Attribute.paymentID] = ticket.paymentID
        span.attributes[Attribute.channel] = ticket.order.channel.rawValue
        span.attributes[Attribute.attempt] = ticket.attempt
    }

    /// Names the order of a polled record on its span.
    static func describe(_ span: any Span, _ item: WorkItem) {
        guard span.isRecording else { return }
        switch item.decoded {
        case .success(let order):
            span.attributes[Attribute.orderID] = order.orderID
            span.attributes[Attribute.channel] = order.channel.rawValue
        case .failure(let rejection):
            if let orderID = rejection.orderID { span.attributes[Attribute.orderID] = orderID }
        }
    }

    /// What an accept found: a payment to charge, a duplicate or a conflict.
    static func describe(_ span: any Span, _ acceptance: Acceptance) {
        guard span.isRecording else { return }
        switch acceptance {
        case .charge(let ticket):
            describe(span, ticket)
            span.attributes[Attribute.outcome] = ticket.resumed ? "taken_over" : "accepted"
        case .duplicate(let state): span.attributes[Attribute.outcome] = "duplicate_\(state.rawValue)"
        case .conflict: span.attributes[Attribute.outcome] = "order_conflict"
        case .rejectedEarlier: span.attributes[Attribute.outcome] = "rejected_earlier"
        }
    }

    /// An invalid event: its order (if it has one) and the reason code of its rejection.
    static func describe(_ span: any Span, _ rejection: OrderRejection) {
        guard span.isRecording else { return }
        if let orderID = rejection.orderID { span.attributes[Attribute.orderID] = orderID }
        span.attributes[Attribute.outcome] = "rejected_\(rejection.reason.code)"
    }

    /// What a lookup found.
    static func describe(_ span: any Span, _ lookup: PaymentLookup) {
        guard span.isRecording else { return }
        span.attributes[Attribute.outcome] = switch lookup {
        case .paid: "paid"
        case .notPaid: "not_paid"
        case .unknown(let reason): "unknown_\(reason.code)"
        case .paidOnOtherTerms: "paid_on_other_terms"
        }
    }
}

/// Reads W3C trace-context fields (`traceparent`, `tracestate`) from a record's Kafka headers.
struct KafkaHeadersExtractor: Extractor {
    func extract(key: String, from headers: [KafkaHeader]) -> String? {
        headers.first { $0.name == key }.flatMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }
    }
}

/// Reads the one trace-context field Cashier stores: the order event's `traceparent`.
struct TraceparentExtractor: Extractor {
    func extract(key: String, from traceparent: String) -> String? {
        key == "traceparent" ? traceparent : nil
    }
}
