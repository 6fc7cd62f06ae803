import CashierChannels
import CashierCore
import CashierStore
import Foundation
import Kafka
import Logging

/// Takes one `order.created` record from bytes to a durable outcome. Safe to run again for
/// the same record at any point (after a crash, a rebalance, a duplicate): every step is
/// idempotent and every channel call carries the order's idempotency key.
struct OrderProcessor: Sendable {
    let store: PaymentStore
    let channels: ChannelRegistry
    let configuration: WorkerConfiguration
    let relay: OutboxRelay
    let logger: Logger

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
            switch try await store.accept(order, origin: origin) {
            case .duplicate(let state):
                logger.info("duplicate order event ignored", metadata: ["order_id": "\(order.orderID)", "state": "\(state.rawValue)"])
                return true
            case .conflict:
                relay.wake()
                return true
            case .charge(let ticket):
                return try await charge(ticket, origin: origin, traceparent: traceparent)
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
                channelReference: nil, attempts: 0, reason: rejection.reason, occurredAt: Self.now(),
                source: rejection.orderID == nil ? origin.source : nil)
            try await store.reject(rejection, payload: payload, origin: origin, result: result)
        }
        logger.notice(
            "event rejected",
            metadata: ["order_id": "\(rejection.orderID ?? "-")", "reason": "\(rejection.reason.code)", "offset": "\(origin.partition)/\(origin.offset)"])
        relay.wake()
    }

    /// Calls the channel and records the outcome; unknown outcomes are resolved by repeating
    /// the call with the same key a bounded number of times.
    private func charge(_ first: PaymentTicket, origin: EventOrigin, traceparent: String?) async throws -> Bool {
        let order = first.order
        let adapter = channels.adapter(for: order.channel)
        var ticket = first
        var repeats = 0
        while true {
            let request = ChargeRequest(
                paymentID: ticket.paymentID, orderID: order.orderID, itemID: order.itemID, amount: order.amount,
                currency: order.currency, paymentMethod: order.paymentMethod, idempotencyKey: ticket.idempotencyKey)
            let outcome = await adapter.charge(request)
            // A call cut short by shutdown tells us nothing: leave the payment `processing` and
            // the offset uncommitted, so the next owner repeats it with the same key.
            if Task.isCancelled { return false }
            logger.debug(
                "channel answered",
                metadata: ["order_id": "\(order.orderID)", "attempt": "\(ticket.attempt)", "outcome": "\(outcome.kind)"])
            switch outcome {
            case .succeeded(let reference):
                try await settle(ticket, outcome, status: .succeeded, reference: reference, reason: nil, traceparent: traceparent)
                return true
            case .declined(let reason):
                try await settle(ticket, outcome, status: .failed, reference: nil, reason: reason, traceparent: traceparent)
                return true
            case .unknown where repeats < configuration.unknownOutcomeRepeats && configuration.retryPolicy.allowsAnotherAttempt(after: ticket.attempt):
                repeats += 1
                try? await Task.sleep(for: .milliseconds(250 * repeats))
                if Task.isCancelled { return false }
                ticket = try await store.nextAttempt(after: ticket, outcome: outcome)
            case .retryable(let reason), .unknown(let reason):
                try await handOver(ticket, outcome, reason: reason, origin: origin, traceparent: traceparent)
                return true
            }
        }
    }

    private func settle(
        _ ticket: PaymentTicket, _ outcome: ChannelOutcome, status: ResultEvent.Status, reference: String?, reason: Reason?,
        traceparent: String?
    ) async throws {
        let order = ticket.order
        let result = ResultEvent(
            eventID: PaymentIdentity.resultEventID(paymentID: ticket.paymentID, status: status.rawValue),
            orderID: order.orderID, paymentID: ticket.paymentID, status: status, amount: order.amount,
            currency: order.currency.code, channel: order.channel.rawValue, channelReference: reference,
            attempts: ticket.attempt, reason: reason, occurredAt: Self.now())
        let changed = try await store.settle(ticket, outcome: outcome, result: result, traceparent: traceparent)
        if changed { relay.wake() }
        logger.debug(
            "payment \(status.rawValue)",
            metadata: ["order_id": "\(order.orderID)", "payment_id": "\(ticket.paymentID)", "attempt": "\(ticket.attempt)"])
    }

    /// Retryable (or still unknown): the retry worker takes over, unless the attempts are spent.
    private func handOver(_ ticket: PaymentTicket, _ outcome: ChannelOutcome, reason: Reason, origin: EventOrigin, traceparent: String?) async throws {
        let policy = configuration.retryPolicy
        guard policy.allowsAnotherAttempt(after: ticket.attempt) else {
            let exhausted = Reason(code: "retries_exhausted", message: "\(ticket.attempt) attempts failed; last: \(reason)")
            try await settle(ticket, outcome, status: .failed, reference: nil, reason: exhausted, traceparent: traceparent)
            return
        }
        var generator = SystemRandomNumberGenerator()
        let delay = policy.delayMilliseconds(retry: ticket.attempt, using: &generator)
        let request = RetryRequest(
            orderID: ticket.order.orderID, paymentID: ticket.paymentID, attempts: ticket.attempt,
            dueAtMilliseconds: Self.nowMilliseconds() + delay, lastError: reason, source: origin.source)
        try await store.scheduleRetry(ticket, outcome: outcome, request: request, traceparent: traceparent)
        relay.wake()
        logger.notice(
            "payment handed to retry",
            metadata: ["order_id": "\(ticket.order.orderID)", "attempt": "\(ticket.attempt)", "reason": "\(reason.code)", "delay_ms": "\(delay)"])
    }

    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    static func now() -> String { Timestamp.rfc3339(millisecondsSinceEpoch: nowMilliseconds()) }
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
