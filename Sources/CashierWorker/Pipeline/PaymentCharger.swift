import CashierChannels
import CashierCore
import CashierStore
import Foundation
import Logging
import Metrics

/// The channel call and its recording, shared by the order worker and the retry worker.
///
/// An unknown outcome ("may have succeeded") is resolved in place first, by repeating the call
/// with the same idempotency key a bounded number of times: the channel answers a repeat with
/// the saved outcome of the first call instead of charging again.
struct PaymentCharger: Sendable {
    let store: PaymentStore
    let channels: ChannelRegistry
    let retryPolicy: RetryPolicy
    let unknownOutcomeRepeats: Int
    let logger: Logger

    /// Calls the channel for `first` and returns the last call's ticket and its classified
    /// outcome, or nil when the task was cancelled (shutdown) before an answer could be used.
    func call(_ first: PaymentTicket) async throws -> (PaymentTicket, ChannelOutcome)? {
        let order = first.order
        let adapter = channels.adapter(for: order.channel)
        var ticket = first
        var repeats = 0
        while true {
            let outcome = await adapter.charge(Self.request(for: ticket))
            // A call cut short by shutdown tells us nothing: leave the payment as it is, so the
            // next owner repeats it with the same key.
            if Task.isCancelled { return nil }
            logger.debug(
                "channel answered",
                metadata: ["order_id": "\(order.orderID)", "attempt": "\(ticket.attempt)", "outcome": "\(outcome.kind)"])
            guard case .unknown = outcome, repeats < unknownOutcomeRepeats, retryPolicy.allowsAnotherAttempt(after: ticket.attempt) else {
                return (ticket, outcome)
            }
            repeats += 1
            try? await Task.sleep(for: .milliseconds(250 * repeats))
            if Task.isCancelled { return nil }
            ticket = try await store.nextAttempt(after: ticket, outcome: outcome)
        }
    }

    static func request(for ticket: PaymentTicket) -> ChargeRequest {
        let order = ticket.order
        return ChargeRequest(
            paymentID: ticket.paymentID, orderID: order.orderID, itemID: order.itemID, amount: order.amount,
            currency: order.currency, paymentMethod: order.paymentMethod, idempotencyKey: ticket.idempotencyKey,
            attempt: ticket.attempt)
    }

    /// Records a final answer (succeeded or declined). Returns whether this call settled it.
    @discardableResult
    func settle(_ ticket: PaymentTicket, _ outcome: ChannelOutcome, traceparent: String?) async throws -> Bool {
        let (status, reference): (ResultEvent.Status, String?) = switch outcome {
        case .succeeded(let reference): (.succeeded, reference)
        default: (.failed, nil)
        }
        let result = Self.result(ticket, status: status, reference: reference, reason: outcome.reason)
        let changed = try await store.settle(ticket, outcome: outcome, result: result, traceparent: traceparent)
        if changed {
            Telemetry.payments(ticket.order.channel, status: status.rawValue).increment()
            ChannelRates.shared.record(ticket.order.channel, succeeded: status == .succeeded)
        }
        logger.debug(
            "payment \(status.rawValue)",
            metadata: ["order_id": "\(ticket.order.orderID)", "payment_id": "\(ticket.paymentID)", "attempt": "\(ticket.attempt)"])
        return changed
    }

    /// The attempts are spent: a `failed` result, a dead letter and a dead-letter event.
    @discardableResult
    func exhaust(_ ticket: PaymentTicket, _ outcome: ChannelOutcome, traceparent: String?) async throws -> Bool {
        let last = outcome.reason.map { "\($0.code): \($0.message)" } ?? outcome.kind
        let reason = Reason(code: "retries_exhausted", message: "\(ticket.attempt) attempts failed; last: \(last)")
        let result = Self.result(ticket, status: .failed, reference: nil, reason: reason)
        let changed = try await store.exhaust(ticket, outcome: outcome, result: result, traceparent: traceparent)
        if changed {
            Telemetry.payments(ticket.order.channel, status: "failed").increment()
            Telemetry.deadLetters(reason: "retries_exhausted").increment()
            ChannelRates.shared.record(ticket.order.channel, succeeded: false)
        }
        logger.warning(
            "payment dead-lettered: retries exhausted",
            metadata: ["order_id": "\(ticket.order.orderID)", "payment_id": "\(ticket.paymentID)", "attempt": "\(ticket.attempt)",
                       "last_error": "\(outcome.reason?.code ?? outcome.kind)"])
        return changed
    }

    /// The wait before the next call, drawn from the policy: after `attempts` calls this is
    /// retry number `attempts`.
    func nextDueMilliseconds(after attempts: Int) -> (due: Int64, delay: Int64) {
        var generator = SystemRandomNumberGenerator()
        let delay = retryPolicy.delayMilliseconds(retry: attempts, using: &generator)
        return (Self.nowMilliseconds() + delay, delay)
    }

    static func result(_ ticket: PaymentTicket, status: ResultEvent.Status, reference: String?, reason: Reason?) -> ResultEvent {
        let order = ticket.order
        return ResultEvent(
            eventID: PaymentIdentity.resultEventID(paymentID: ticket.paymentID, status: status.rawValue),
            orderID: order.orderID, paymentID: ticket.paymentID, status: status, amount: order.amount,
            currency: order.currency.code, channel: order.channel.rawValue, channelReference: reference,
            attempts: ticket.attempt, reason: reason, occurredAt: now())
    }

    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    static func now() -> String { Timestamp.rfc3339(millisecondsSinceEpoch: nowMilliseconds()) }
}
