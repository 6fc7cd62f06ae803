import CashierChannels
import CashierCore
import CashierStore
import Foundation
import Kafka
import Logging
import Metrics

/// Takes one `order.created` record from bytes to a durable outcome. Safe to run again for
/// the same record at any point (after a crash, a rebalance, a duplicate): every step is
/// idempotent and every channel call carries the order's idempotency key.
struct OrderProcessor: Sendable {
    let store: PaymentStore
    let channels: ChannelRegistry
    let configuration: WorkerConfiguration
    let relay: OutboxRelay
    let logger: Logger

    private var charger: PaymentCharger {
        PaymentCharger(
            store: store, channels: channels, retryPolicy: configuration.retryPolicy,
            unknownOutcomeRepeats: configuration.unknownOutcomeRepeats, logger: logger)
    }

    /// Returns when the record's outcome is durable in Postgres. Returns false only when the
    /// task was cancelled first (the record is then left for the next owner).
    func process(_ work: WorkItem) async throws -> Bool {
        let message = work.message
        let origin = EventOrigin(topic: message.topic, partition: message.partition, offset: message.offset, value: message.value)
        let traceparent = message.header("traceparent")
        switch work.decoded {
        case .failure(let rejection):
            try await reject(rejection, payload: message.value, origin: origin)
            return true
        case .success(let order):
            switch try await store.accept(order, origin: origin, traceparent: traceparent) {
            case .duplicate(let state):
                logger.info("duplicate order event ignored", metadata: ["order_id": "\(order.orderID)", "state": "\(state.rawValue)"])
                return true
            case .conflict:
                relay.wake()
                return true
            case .charge(let ticket):
                let done = try await charge(ticket, origin: origin, traceparent: traceparent)
                if done, let produced = message.timestampMilliseconds {
                    Telemetry.orderToResult.recordMilliseconds(max(0, PaymentCharger.nowMilliseconds() - produced))
                }
                return done
            }
        }
    }

    private func reject(_ rejection: OrderRejection, payload: [UInt8], origin: EventOrigin) async throws {
        if let orderID = rejection.orderID, try await store.orderExists(orderID) {
            try await store.rejectAsConflict(rejection, payload: payload, origin: origin)
        } else {
            let result = ResultEvent(
                eventID: PaymentIdentity.rejectionEventID(origin),
                orderID: rejection.orderID, paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
                channelReference: nil, attempts: 0, reason: rejection.reason, occurredAt: PaymentCharger.now(),
                source: rejection.orderID == nil ? origin.source : nil)
            try await store.reject(rejection, payload: payload, origin: origin, result: result)
        }
        logger.notice(
            "event rejected",
            metadata: ["order_id": "\(rejection.orderID ?? "-")", "reason": "\(rejection.reason.code)", "offset": "\(origin.partition)/\(origin.offset)"])
        relay.wake()
    }

    /// Calls the channel and records the outcome: settled, handed to the retry worker, or —
    /// when the attempts are spent — dead-lettered.
    private func charge(_ ticket: PaymentTicket, origin: EventOrigin, traceparent: String?) async throws -> Bool {
        guard let (last, outcome) = try await charger.call(ticket) else { return false }
        switch outcome {
        case .succeeded, .declined:
            try await charger.settle(last, outcome, traceparent: traceparent)
        case .retryable(let reason), .unknown(let reason, _):
            if configuration.retryPolicy.allowsAnotherAttempt(after: last.attempt) {
                try await handOver(last, outcome, reason: reason, origin: origin, traceparent: traceparent)
            } else {
                try await charger.exhaust(last, outcome, traceparent: traceparent)
            }
        }
        relay.wake()
        return true
    }

    /// Retryable (or still unknown): the retry worker takes over through the retry topic.
    private func handOver(_ ticket: PaymentTicket, _ outcome: ChannelOutcome, reason: Reason, origin: EventOrigin, traceparent: String?) async throws {
        let (due, delay) = charger.nextDueMilliseconds(after: ticket.attempt)
        let request = RetryRequest(
            orderID: ticket.order.orderID, paymentID: ticket.paymentID, attempts: ticket.attempt,
            dueAtMilliseconds: due, lastError: reason, source: origin.source)
        try await store.scheduleRetry(ticket, outcome: outcome, request: request, traceparent: traceparent)
        logger.notice(
            "payment handed to retry",
            metadata: ["order_id": "\(ticket.order.orderID)", "attempt": "\(ticket.attempt)", "reason": "\(reason.code)", "delay_ms": "\(delay)"])
    }
}

/// A polled record with its decoding done once, on the dispatcher.
struct WorkItem: Sendable {
    let message: KafkaMessage
    let decoded: Result<OrderCreated, OrderRejection>
    let generation: Int

    /// Records of the same order never run concurrently; undecodable ones are each their own key.
    var serializationKey: String {
        switch decoded {
        case .success(let order): "order:" + order.orderID
        case .failure(let rejection):
            rejection.orderID.map { "order:" + $0 } ?? "record:\(message.topic)/\(message.partition)/\(message.offset)"
        }
    }
}
