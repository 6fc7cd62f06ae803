import CashierChannels
import CashierCore
import CashierStore
import Foundation
import Logging
import Metrics
import Tracing

/// The channel call of a held payment and the recording of its answer along the lifecycle,
/// shared by the order worker and the retry worker.
///
/// Pressure never fails an order (invariant 7): the call waits for its channel's place and
/// breaker, and only a call really sent opens an attempt. An answer that does not say whether
/// money moved is never a failure (invariant 6): the payment goes to `resolving` and is looked
/// up on the schedule in Postgres, without holding a slot here.
struct PaymentCharger: Sendable {
    let store: PaymentStore
    let channels: ChannelRegistry
    let retryPolicy: RetryPolicy
    let lookupPolicy: LookupPolicy
    /// How long a call waits for an open breaker before the payment is put on the retry
    /// schedule instead (without an attempt).
    let breakerMaxWait: Duration
    let logger: Logger

    enum Ending: Equatable {
        /// The outcome is durable (or another holder's is: this one was fenced out).
        case recorded
        /// Shutdown cut the call short: the payment is left for the next holder.
        case cancelled
    }

    /// Makes the next call for `held` and records its answer. `source` is where the order event
    /// was read, carried in a hand-over message.
    func charge(_ held: PaymentTicket, source: ResultEvent.Source? = nil) async throws -> Ending {
        let protection = channels.protection(for: held.order.channel)
        if held.attemptOpen {
            // Accepted with the channel's place in hand and its attempt open: call now.
            return try await call(held, through: protection, source: source)
        }
        // A resumed payment whose attempts are spent (its last call was interrupted): the
        // channel may have charged, so it is looked up, never called again or failed.
        guard retryPolicy.allowsAnotherAttempt(after: held.countedAttempts) else {
            let reason = Reason(code: "interrupted", message: "the last allowed call was interrupted before its answer was recorded")
            try await store.move(held, PaymentChange(PaymentLifecycle.lookUp, reason: reason, dueAtMilliseconds: nextLookup(1)))
            return .recorded
        }
        switch await protection.admit(maxWait: breakerMaxWait) {
        case let refusal?:
            return try await refused(held, refusal, source: source)
        case nil:
            break
        }
        let sent: PaymentTicket?
        do {
            sent = try await store.send(held)
        } catch {
            protection.abandon()
            throw error
        }
        guard let ticket = sent else {
            protection.abandon()
            logger.notice("payment no longer held; not called", metadata: ["payment_id": "\(held.paymentID)"])
            return .recorded
        }
        return try await call(ticket, through: protection, source: source)
    }

    /// Sends the admitted call of `ticket` (its attempt open) and records the answer.
    private func call(_ ticket: PaymentTicket, through protection: ChannelProtection, source: ResultEvent.Source?) async throws -> Ending {
        let outcome = await Traces.withSpan("channel call", ofKind: .client) { span in
            Traces.describe(span, ticket)
            let outcome = await protection.call(Self.request(for: ticket))
            span.attributes[Traces.Attribute.outcome] = outcome.kind
            return outcome
        }
        logger.debug(
            "channel answered",
            metadata: ["order_id": "\(ticket.order.orderID)", "attempt": "\(ticket.attempt)", "outcome": "\(outcome.kind)"])
        try await Traces.withSpan("settle") { span in
            Traces.describe(span, ticket)
            span.attributes[Traces.Attribute.outcome] = outcome.kind
            try await recordDurably(ticket, outcome, source: source)
        }
        return .recorded
    }

    /// No call could be made for `held`: shutdown (left for the next holder), or the channel
    /// cannot be called (deferred to the retry schedule without an attempt).
    func refused(_ held: PaymentTicket, _ refusal: ChannelProtection.Refusal, source: ResultEvent.Source?) async throws -> Ending {
        switch refusal {
        case .cancelled:
            return .cancelled
        case .circuitOpen:
            try await deferUnsent(held, source: source, reason: Reason(
                code: "circuit_open", message: "\(held.order.channel.rawValue) channel breaker stayed open; not called"))
            return .recorded
        case .notConfigured:
            logger.error(
                "channel not configured in this process; the payment waits on the retry schedule, uncalled",
                metadata: ["order_id": "\(held.order.orderID)", "channel": "\(held.order.channel.rawValue)"])
            try await deferUnsent(held, source: source, reason: Reason(
                code: "channel_not_configured", message: "channel \(held.order.channel.rawValue) has no credentials configured; not called"))
            return .recorded
        }
    }

    /// Records an answer, retrying transient storage failures with backoff: the answer of a
    /// call that was sent is kept until it is durable (redoing the call would lose nothing,
    /// but the answer is what the buyer is owed). Gives up only on a lasting error or shutdown's
    /// cancellation; the lease then lapses and the sweeper has the payment looked up.
    func recordDurably(_ ticket: PaymentTicket, _ outcome: ChannelOutcome, source: ResultEvent.Source?) async throws {
        var failures = 0
        while true {
            do {
                return try await record(ticket, outcome, source: source)
            } catch {
                let error = StoreError.classify(error)
                guard error.isRetryable, !Task.isCancelled else { throw error }
                failures += 1
                logger.error(
                    "recording a channel answer failed, will retry: \(error)",
                    metadata: ["order_id": "\(ticket.order.orderID)", "attempt": "\(ticket.attempt)", "outcome": "\(outcome.kind)"])
                try? await Task.sleep(for: failurePause(failures))
            }
        }
    }

    /// Records the answer of the call `ticket` made.
    func record(_ ticket: PaymentTicket, _ outcome: ChannelOutcome, source: ResultEvent.Source? = nil) async throws {
        let order = ticket.order
        switch outcome {
        case .succeeded(let reference):
            let result = Self.result(ticket, status: .succeeded, reference: reference, reason: nil)
            if try await store.move(ticket, PaymentChange(PaymentLifecycle.succeed, outcome: outcome, reference: reference, result: result)) {
                settled(ticket, status: .succeeded)
            } else {
                try await learnedLate(ticket, reference: reference)
            }
        case .declined(let reason):
            let result = Self.result(ticket, status: .failed, reference: nil, reason: reason)
            if try await store.move(ticket, PaymentChange(PaymentLifecycle.decline, outcome: outcome, reason: reason, result: result)) {
                settled(ticket, status: .failed)
            }
        case .notSent(let reason):
            try await deferUnsent(ticket, source: source, reason: reason, outcome: outcome)
        case .notProcessed(let reason), .retryable(let reason):
            guard retryPolicy.allowsAnotherAttempt(after: ticket.countedAttempts) else {
                // No attempt is left. `failed` needs the channel's word that nothing was charged
                // (invariant 6): this call was not processed, and neither was any earlier one.
                // A server error says no such thing, and an earlier call that went unanswered or
                // failed on the server may have charged: look it up before anything is failed.
                if case .notProcessed = outcome, try await !store.hadCallThatMayHaveCharged(before: ticket) {
                    try await exhaust(ticket, outcome: outcome, lastError: reason)
                    return
                }
                try await store.move(ticket, PaymentChange(
                    PaymentLifecycle.lookUp, outcome: outcome, reason: reason, dueAtMilliseconds: nextLookup(1)))
                logger.info(
                    "no attempt left after an answer that does not rule a charge out; the payment will be looked up",
                    metadata: ["order_id": "\(order.orderID)", "attempt": "\(ticket.attempt)", "reason": "\(reason.code)"])
                return
            }
            // Backoff by calls sent: tries that never left do not lengthen it.
            let (due, delay) = nextRetry(after: max(1, ticket.callsSent))
            if ticket.state == .processing {
                let request = RetryRequest(
                    orderID: order.orderID, paymentID: ticket.paymentID, attempts: ticket.attempt, dueAtMilliseconds: due,
                    lastError: reason, source: source ?? Self.noSource)
                try await store.move(ticket, PaymentChange(PaymentLifecycle.handOver, outcome: outcome, reason: reason, dueAtMilliseconds: due, retry: request))
            } else {
                try await store.move(ticket, PaymentChange(PaymentLifecycle.reschedule, outcome: outcome, reason: reason, dueAtMilliseconds: due))
            }
            logger.info(
                "payment on the retry schedule",
                metadata: ["order_id": "\(order.orderID)", "attempt": "\(ticket.attempt)", "reason": "\(reason.code)", "delay_ms": "\(delay)"])
        case .unknown(let reason, let reference):
            // An answer in progress is the channel working normally (and its notification
            // usually comes first): looked up a little later, and not worth a log line per order.
            let inProgress = outcome.isInProgress
            try await store.move(ticket, PaymentChange(
                PaymentLifecycle.lookUp, outcome: outcome, reason: reason, reference: reference,
                dueAtMilliseconds: inProgress ? nextInProgressLookup() : nextLookup(1)))
            logger.log(
                level: inProgress ? .debug : .info, "outcome unknown; the payment will be looked up",
                metadata: ["order_id": "\(order.orderID)", "attempt": "\(ticket.attempt)", "reason": "\(reason.code)"])
        }
    }

    /// No call could be made (the breaker stayed open for the whole wait, the channel has no
    /// credentials here, or the charge could not leave: `outcome` is then `notSent`, and the
    /// attempt opened for it is closed `not_sent`, which is no call), so no attempt is counted
    /// (invariant 7). The payment waits on the retry schedule, trying again about as often as
    /// it has waited so far; only time ends it: past `RetryPolicy.unsentHorizonMilliseconds`
    /// without a call sent it is `failed` if no earlier call may have charged (invariant 6),
    /// else looked up.
    private func deferUnsent(_ held: PaymentTicket, source: ResultEvent.Source?, reason: Reason, outcome: ChannelOutcome? = nil) async throws {
        let now = Self.nowMilliseconds()
        let waitingSince = held.unsentSinceMilliseconds ?? now
        // The calls sent before this try (a `notSent` try's own attempt row is not one).
        let sent = held.callsSent - (outcome == nil ? 0 : 1)
        if retryPolicy.isPastUnsentHorizon(since: waitingSince, now: now) {
            return try await giveUpUnsent(held, reason: reason, outcome: outcome, sent: sent, waited: now - waitingSince)
        }
        var generator = SystemRandomNumberGenerator()
        let wait = outcome == nil ? breakerMaxWait.wholeMilliseconds : retryPolicy.unsentDelayMilliseconds(waited: now - waitingSince, using: &generator)
        let due = now + wait
        var change: PaymentChange
        if held.state == .processing {
            let request = RetryRequest(
                orderID: held.order.orderID, paymentID: held.paymentID, attempts: held.attempt, dueAtMilliseconds: due, lastError: reason,
                source: source ?? Self.noSource)
            change = PaymentChange(PaymentLifecycle.deferUnsent, outcome: outcome, reason: reason, dueAtMilliseconds: due, retry: request)
        } else {
            change = PaymentChange(PaymentLifecycle.reschedule, outcome: outcome, reason: reason, dueAtMilliseconds: due)
        }
        change.unsent = true
        try await store.move(held, change)
        logger.notice("payment deferred without a call", metadata: ["order_id": "\(held.order.orderID)", "reason": "\(reason.code)", "delay_ms": "\(wait)"])
    }

    /// No call could be sent for the whole unsent horizon. `failed` needs the channel's word
    /// that nothing was charged: when every earlier call was answered "not processed" (or none
    /// was sent), this is it; otherwise the payment is looked up (and a lookup that finds no
    /// charge then fails it: `PaymentResolver`).
    private func giveUpUnsent(_ held: PaymentTicket, reason: Reason, outcome: ChannelOutcome?, sent: Int, waited: Int64) async throws {
        // `outcome` set: the ticket's own attempt was opened for this try and not sent.
        var earlier = held
        if outcome == nil { earlier.attempt += 1 }
        let lastError = Reason(code: reason.code, message: "no call could be sent for \(waited / 1000) s (\(sent) sent before): \(reason.message)")
        if try await !store.hadCallThatMayHaveCharged(before: earlier) {
            return try await exhaust(held, outcome: outcome, lastError: lastError, sent: sent)
        }
        // Still no call sent: the wait goes on through the lookups, so that one finding no
        // charge ends it (`PaymentResolver`), attempts left or not.
        var change = PaymentChange(PaymentLifecycle.lookUp, outcome: outcome, reason: lastError, dueAtMilliseconds: nextLookup(1))
        change.unsent = true
        try await store.move(held, change)
        logger.warning(
            "no call could be sent within the horizon after a call that may have charged; the payment will be looked up",
            metadata: ["order_id": "\(held.order.orderID)", "reason": "\(reason.code)"])
    }

    /// The last allowed call said "not charged": `failed`, a dead letter.
    /// - Parameter sent: the calls sent, when the ticket's own attempt was opened for a charge
    ///   that never left (`notSent`): the result names calls sent, not tries.
    func exhaust(_ ticket: PaymentTicket, outcome: ChannelOutcome?, lastError: Reason, sent: Int? = nil) async throws {
        let calls = sent ?? ticket.callsSent
        let reason = Reason(code: "retries_exhausted", message: "\(calls) attempts failed; last: \(lastError.code): \(lastError.message)")
        var result = Self.result(ticket, status: .failed, reference: nil, reason: reason)
        result.attempts = calls
        var change = PaymentChange(PaymentLifecycle.exhaust, outcome: outcome, reason: reason, result: result, deadLetter: reason)
        change.lastError = lastError
        change.callsSent = calls
        if try await store.move(ticket, change) {
            settled(ticket, status: .failed)
            Telemetry.deadLetters(reason: reason.code).increment()
            logger.warning(
                "payment dead-lettered: retries exhausted",
                metadata: ["order_id": "\(ticket.order.orderID)", "payment_id": "\(ticket.paymentID)", "attempt": "\(ticket.attempt)",
                           "last_error": "\(lastError.code)"])
        }
    }

    /// A success this holder learned after losing the payment: recorded all the same.
    func learnedLate(_ ticket: PaymentTicket, reference: String) async throws {
        let outcome = try await store.learnSuccess(
            idempotencyKey: ticket.idempotencyKey, channel: ticket.order.channel, reference: reference, occurredAt: Self.now(),
            attempt: ticket.attempt, learnedBy: "a late answer (attempt \(ticket.attempt))")
        switch outcome {
        case .settled:
            settled(ticket, status: .succeeded)
            logger.notice("late success recorded after the lease was lost", metadata: ["order_id": "\(ticket.order.orderID)"])
        case .contradiction:
            Telemetry.deadLetters(reason: "channel_contradiction").increment()
            logger.critical(
                "channel contradiction: a charge succeeded for a payment failed as not charged",
                metadata: ["order_id": "\(ticket.order.orderID)", "reference": "\(reference)"])
        case .alreadySucceeded, .unknownPayment, .termsMismatch:
            // A late answer passed its adapter's terms check already; no terms go with it.
            break
        }
    }

    func settled(_ ticket: PaymentTicket, status: ResultEvent.Status) {
        Telemetry.payments(ticket.order.channel, status: status.rawValue).increment()
        ChannelRates.shared.record(ticket.order.channel, succeeded: status == .succeeded)
    }

    func nextRetry(after attempts: Int) -> (due: Int64, delay: Int64) {
        var generator = SystemRandomNumberGenerator()
        let delay = retryPolicy.delayMilliseconds(retry: attempts, using: &generator)
        return (Self.nowMilliseconds() + delay, delay)
    }

    func nextInProgressLookup() -> Int64 {
        var generator = SystemRandomNumberGenerator()
        return Self.nowMilliseconds() + lookupPolicy.firstInProgressDelayMilliseconds(using: &generator)
    }

    func nextLookup(_ k: Int) -> Int64 {
        var generator = SystemRandomNumberGenerator()
        return Self.nowMilliseconds() + lookupPolicy.delayMilliseconds(lookup: k, using: &generator)
    }

    static func request(for ticket: PaymentTicket) -> ChargeRequest {
        let order = ticket.order
        return ChargeRequest(
            paymentID: ticket.paymentID, orderID: order.orderID, itemID: order.itemID, amount: order.amount,
            currency: order.currency, paymentMethod: order.paymentMethod, idempotencyKey: ticket.idempotencyKey,
            attempt: max(ticket.attempt, 1))
    }

    static func result(_ ticket: PaymentTicket, status: ResultEvent.Status, reference: String?, reason: Reason?) -> ResultEvent {
        let order = ticket.order
        return ResultEvent(
            eventID: PaymentIdentity.resultEventID(paymentID: ticket.paymentID, status: status.rawValue),
            orderID: order.orderID, paymentID: ticket.paymentID, status: status, amount: order.amount,
            currency: order.currency.code, channel: order.channel.rawValue, channelReference: reference,
            attempts: ticket.callsSent, reason: reason, occurredAt: now())
    }

    /// A hand-over made away from the order topic (the retry worker's own) names no record.
    static let noSource = ResultEvent.Source(topic: "", partition: -1, offset: -1)

    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    static func now() -> String { Timestamp.rfc3339(millisecondsSinceEpoch: nowMilliseconds()) }
}
