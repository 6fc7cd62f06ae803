import CashierChannels
import CashierCore
import CashierStore
import Foundation
import Kafka
import Logging
import Metrics
import Tracing
import W3CTraceContext

/// Takes one `order.created` record from bytes to a durable outcome. Safe to run again for
/// the same record at any point (after a crash, a rebalance, a duplicate): every step is
/// idempotent, fenced by the payment's lease, and every channel call carries the order's
/// idempotency key.
struct OrderProcessor: Sendable {
    let store: PaymentStore
    let charger: PaymentCharger
    let leases: LeaseKeeper
    let relay: OutboxRelay
    let logger: Logger

    /// Returns when the record's outcome is durable in Postgres. Returns false only when the
    /// task was cancelled first (the record is then left for the next owner).
    /// - Parameter lease: the lease token of every try of this record (`PaymentStore.accept`).
    func process(_ work: WorkItem, lease: String) async throws -> Bool {
        let message = work.message
        let origin = work.origin
        let traceparent = Self.traceparent(message.header("traceparent"))
        switch work.decoded {
        case .failure(let rejection):
            try await Traces.withSpan("reject") { span in
                Traces.describe(span, rejection)
                try await reject(rejection, payload: message.value, origin: origin)
            }
            return true
        case .success(let order):
            // The channel's place (and its breaker's leave) first: then a new order's payment and
            // its first attempt are recorded in one statement, and the call follows at once.
            let protection = charger.channels.protection(for: order.channel)
            let refusal = await protection.admit(maxWait: charger.breakerMaxWait)
            if refusal == .cancelled { return false }
            let acceptance: Acceptance
            do {
                acceptance = try await Traces.withSpan("accept") { span in
                    let acceptance = try await store.accept(order, origin: origin, traceparent: traceparent, openAttempt: refusal == nil, lease: lease)
                    Traces.describe(span, acceptance)
                    return acceptance
                }
            } catch {
                if refusal == nil { protection.abandon() }
                throw error
            }
            guard case .charge(let ticket) = acceptance else {
                if refusal == nil { protection.abandon() }
                if case .duplicate(let state) = acceptance {
                    logger.debug("duplicate order event ignored", metadata: ["order_id": "\(order.orderID)", "state": "\(state.rawValue)"])
                } else {
                    relay.wake()
                }
                return true
            }
            leases.hold(ticket)
            defer { leases.release(ticket) }
            let ending: PaymentCharger.Ending
            if let refusal {
                ending = try await charger.refused(ticket, refusal, source: origin.source)
            } else {
                // A taken-over payment has no open attempt: the charger admits and sends anew.
                if !ticket.attemptOpen { protection.abandon() }
                ending = try await charger.charge(ticket, source: origin.source)
            }
            relay.wake()
            guard ending == .recorded else { return false }
            if let produced = message.timestampMilliseconds {
                Telemetry.orderToResult.recordMilliseconds(max(0, PaymentCharger.nowMilliseconds() - produced))
            }
            return true
        }
    }

    /// The incoming W3C `traceparent`, if it is one, in its canonical form (swift-w3c-trace-context
    /// decodes it): a header is not checked by the event's decoder, and anything else (a NUL, a
    /// huge value, upper-case hex, an all-zero id) must not reach a text column and fail the order's accept; it is
    /// dropped.
    static func traceparent(_ header: String?) -> String? {
        guard let header, let context = try? TraceContext(traceParentHeaderValue: header) else { return nil }
        return context.traceParentHeaderValue
    }

    private func reject(_ rejection: OrderRejection, payload: [UInt8], origin: EventOrigin) async throws {
        let result = ResultEvent(
            eventID: PaymentIdentity.rejectionEventID(origin),
            orderID: rejection.orderID, paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
            channelReference: nil, attempts: 0, reason: rejection.reason, occurredAt: PaymentCharger.now(),
            source: rejection.orderID == nil ? origin.source : nil)
        let answer = try await store.reject(rejection, payload: payload, origin: origin, result: result)
        let metadata: Logger.Metadata = [
            "order_id": "\(rejection.orderID ?? "-")", "reason": "\(rejection.reason.code)", "offset": "\(origin.partition)/\(origin.offset)",
        ]
        switch answer {
        case .rejected: logger.notice("event rejected", metadata: metadata)
        case .duplicate: logger.info("invalid event repeated; its order's result stands", metadata: metadata)
        case .conflict: logger.warning("invalid event names an order already decided: dead-lettered as order_conflict", metadata: metadata)
        }
        relay.wake()
    }
}

/// A polled record with its decoding done once, on the dispatcher.
struct WorkItem: Sendable {
    let message: KafkaMessage
    let decoded: Result<OrderCreated, OrderRejection>
    let generation: Int

    var origin: EventOrigin {
        EventOrigin(topic: message.topic, partition: message.partition, offset: message.offset, value: message.value)
    }

    /// The channel the record will call, if it is a valid order.
    var channel: Channel? { if case .success(let order) = decoded { order.channel } else { nil } }

    /// Records of the same order never run concurrently; undecodable ones are each their own key.
    var serializationKey: String {
        switch decoded {
        case .success(let order): "order:" + order.orderID
        case .failure(let rejection):
            rejection.orderID.map { "order:" + $0 } ?? "record:\(message.topic)/\(message.partition)/\(message.offset)"
        }
    }
}
