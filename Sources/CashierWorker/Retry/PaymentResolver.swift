import CashierChannels
import CashierCore
import CashierStore
import Logging
import Tracing

/// Looks up payments whose outcome is unknown (`resolving`) and settles them along the
/// lifecycle: found paid → `succeeded`; found not paid → a call with the same key is safe, so
/// back on the retry schedule (or `failed` when no attempt is left — the one way a payment that
/// was once unknown can fail, invariant 6); still unknown → the next lookup, later; unknown past
/// the horizon → parked as a dead letter `outcome_unknown`, with no result yet; a success on
/// other terms than the payment's → parked at once as `terms_mismatch`.
struct PaymentResolver: Sendable {
    let charger: PaymentCharger

    func resolve(_ ticket: PaymentTicket) async throws {
        let store = charger.store
        let logger = charger.logger
        // The settle window is measured when the lookup is sent, not when it answers: a lookup
        // sent while the last call may still be running at the channel says "not yet" however
        // late its answer comes back.
        let lookedAt = PaymentCharger.nowMilliseconds()
        let lookup = await Traces.withSpan("channel lookup", ofKind: .client) { span in
            Traces.describe(span, ticket)
            let lookup = await charger.channels.protection(for: ticket.order.channel)
                .lookup(PaymentCharger.request(for: ticket), reference: ticket.reference)
            Traces.describe(span, lookup)
            return lookup
        }
        switch lookup {
        case .paid(let reference):
            let result = PaymentCharger.result(ticket, status: .succeeded, reference: reference, reason: nil)
            if try await store.move(ticket, PaymentChange(PaymentLifecycle.resolvePaid, reference: reference, result: result)) {
                charger.settled(ticket, status: .succeeded)
                logger.info("unknown outcome resolved: paid", metadata: ["order_id": "\(ticket.order.orderID)", "lookups": "\(ticket.lookups + 1)"])
            } else {
                try await charger.learnedLate(ticket, reference: reference)
            }
        // A card charge without an intent id is found by Stripe's search, which lags writes.
        case .notPaid where !charger.lookupPolicy.believesNoCharge(
            lastCall: ticket.lastCallMilliseconds, now: lookedAt,
            bySearch: ticket.order.channel == .card && !(ticket.reference?.hasPrefix("pi_") ?? false)):
            // The last call may still be running at the channel: "no charge" means "not yet".
            let reason = Reason(code: "lookup_not_yet", message: "no charge found yet; the last call may still be running at the channel")
            try await store.move(ticket, PaymentChange(
                PaymentLifecycle.lookUpAgain, reason: reason, dueAtMilliseconds: charger.nextLookup(ticket.lookups + 2)))
        case .notPaid:
            let reason = Reason(code: "lookup_not_paid", message: "the channel holds no charge for this payment")
            // Looked up because no call could be sent for the whole unsent horizon: the
            // lookup's "no charge" ends the wait (tries that never leave do not use attempts up).
            let now = PaymentCharger.nowMilliseconds()
            let pastUnsentHorizon = ticket.unsentSinceMilliseconds.map { charger.retryPolicy.isPastUnsentHorizon(since: $0, now: now) } ?? false
            if charger.retryPolicy.allowsAnotherAttempt(after: ticket.countedAttempts), !pastUnsentHorizon {
                try await store.move(ticket, PaymentChange(
                    PaymentLifecycle.resolveUnpaid, reason: reason, dueAtMilliseconds: PaymentCharger.nowMilliseconds()))
                logger.info("unknown outcome resolved: not paid; retrying with the same key", metadata: ["order_id": "\(ticket.order.orderID)"])
            } else {
                // The dead letter and the result name the last call's error, which is what an
                // operator acts on; the lookup is why it may be believed.
                let last = ticket.lastCallError.map { Reason(code: $0.code, message: "\($0.message); a lookup found no charge") } ?? reason
                try await charger.exhaust(ticket, outcome: nil, lastError: last)
            }
        // Money moved under our reference on other terms (`ReportedTerms`): no lookup will
        // change that, so a person is told now, not after the horizon.
        case .paidOnOtherTerms(let reference, let reason):
            let letter = Reason(
                code: ChannelOutcome.termsMismatchCode,
                message: "\(reason.message); no result is published; `cashier dlq replay` looks it up again and accepts charge \(reference), if still there, as this payment's (succeeded; the difference is put right at the channel)")
            if try await store.move(ticket, PaymentChange(PaymentLifecycle.park, reason: reason, deadLetter: letter)) {
                Telemetry.deadLetters(reason: letter.code).increment()
                logger.critical("payment parked: the channel reports a success on other terms", metadata: ["order_id": "\(ticket.order.orderID)"])
            }
        case .unknown(let reason):
            let now = PaymentCharger.nowMilliseconds()
            if charger.lookupPolicy.isPastHorizon(unknownSince: ticket.unknownSinceMilliseconds ?? now, now: now) {
                let letter = Reason(
                    code: "outcome_unknown",
                    message: "the channel could not tell whether this payment was charged after \(ticket.lookups + 1) lookups (last: \(reason.code): \(reason.message)); `cashier dlq replay` looks it up again")
                if try await store.move(ticket, PaymentChange(PaymentLifecycle.park, reason: reason, deadLetter: letter)) {
                    Telemetry.deadLetters(reason: letter.code).increment()
                    logger.error("payment parked: outcome still unknown past the horizon", metadata: ["order_id": "\(ticket.order.orderID)"])
                }
            } else {
                try await store.move(ticket, PaymentChange(
                    PaymentLifecycle.lookUpAgain, reason: reason, dueAtMilliseconds: charger.nextLookup(ticket.lookups + 2)))
            }
        }
    }
}
