import CashierChannels
import CashierCore
public import CashierStore
public import Logging
import Tracing

/// Replays dead letters for an operator. For each one: ask the channel whether the payment
/// already happened; if it did, settle it as succeeded without a call; if it did not, make one
/// call with the payment's own idempotency key. Never a second charge, always audited.
public struct DeadLetterReplayer: Sendable {
    /// What happened to one dead letter, in words an operator reads.
    public struct Report: Sendable, Equatable {
        public enum Kind: String, Sendable { case charged, foundPaid = "found_paid", declined, alreadySucceeded = "already_succeeded",
            failedAgain = "failed_again", notConfirmed = "not_confirmed", requeued, skipped, wouldReplay = "would_replay" }
        public let letterID: Int64
        public let orderID: String?
        public let kind: Kind
        public let detail: String
    }

    private let store: DeadLetterStore
    private let channels: ChannelRegistry
    private let lease: Duration
    private let logger: Logger

    public init(store: DeadLetterStore, channels: ChannelRegistry, lease: Duration, logger: Logger) {
        self.store = store
        self.channels = channels
        self.lease = lease
        self.logger = logger
    }

    /// - Parameter acceptingOtherTerms: whether the operator named this letter (`--id`,
    ///   `--order-id`), so that a `terms_mismatch` letter's charge on other terms is accepted as
    ///   the payment's; never for a bulk `--all`.
    public func replay(_ letter: DeadLetter, actor: String, reason: String, acceptingOtherTerms: Bool = false) async throws -> Report {
        // An operator's action, a trace of its own: the dead letter names the order.
        try await Traces.withSpan("dlq replay", context: .topLevel) { span in
            if span.isRecording {
                if let orderID = letter.orderID { span.attributes[Traces.Attribute.orderID] = orderID }
                if let paymentID = letter.paymentID { span.attributes[Traces.Attribute.paymentID] = paymentID }
            }
            let report = try await replayLetter(letter, actor: actor, reason: reason, acceptingOtherTerms: acceptingOtherTerms)
            span.attributes[Traces.Attribute.outcome] = report.kind.rawValue
            return report
        }
    }

    private func replayLetter(_ letter: DeadLetter, actor: String, reason: String, acceptingOtherTerms: Bool) async throws -> Report {
        let start = try await store.beginReplay(letter.id, actor: actor, reason: reason, lease: lease)
        let claim: ReplayClaim
        switch start {
        case .ready(let ready): claim = ready
        case .alreadySucceeded(let reference, let changed):
            let note = changed ? "closed the dead letter" : "nothing changed"
            return report(letter, .alreadySucceeded, "already succeeded (\(reference ?? "no reference")); not charged; \(note)")
        case .notOpen(let status): return report(letter, .skipped, "dead letter is \(status.rawValue); nothing changed")
        case .notReplayable(let why): return report(letter, .skipped, why)
        case .busy(let why): return report(letter, .skipped, "busy: \(why); try again later")
        case .notFound: return report(letter, .skipped, "no dead letter with id \(letter.id)")
        }

        let channel = channels.protection(for: claim.order.channel)
        switch await channel.lookup(PaymentCharger.request(for: claim.ticket), reference: claim.reference) {
        case .paid(let reference):
            let result = PaymentCharger.result(claim.ticket, status: .succeeded, reference: reference, reason: nil)
            let detail = "the channel already holds charge \(reference); settled as succeeded without a new charge"
            try await store.finishReplay(claim, .foundPaid(reference: reference, result: result), detail: detail)
            return report(letter, .foundPaid, detail)
        case .paidOnOtherTerms(let reference, let reason):
            if let why = Self.otherTermsRefusal(letter, named: acceptingOtherTerms) {
                let detail = "\(reason.message); \(why); not charged"
                try await store.finishReplay(claim, .unconfirmed(reason), detail: detail)
                return report(letter, .notConfirmed, detail)
            }
            let result = PaymentCharger.result(claim.ticket, status: .succeeded, reference: reference, reason: nil)
            let detail = "accepted by the operator: \(reason.message); settled as succeeded with charge \(reference), without a new charge"
            try await store.finishReplay(claim, .foundPaid(reference: reference, result: result), detail: detail)
            return report(letter, .foundPaid, detail)
        case .unknown(let reason):
            let detail = "the channel could not confirm whether it was paid (\(reason.code): \(reason.message)); not charged"
            try await store.finishReplay(claim, .unconfirmed(reason), detail: detail)
            return report(letter, .notConfirmed, detail)
        case .notPaid where claim.state == .resolving:
            // A parked unknown outcome that turned out not charged: the retry worker makes the
            // next call with the same key, under the retry policy.
            let detail = "the channel holds no charge; put back on the retry schedule (same idempotency key)"
            try await store.finishReplay(claim, .requeued, detail: detail)
            return report(letter, .requeued, detail)
        case .notPaid:
            break
        }

        // The channel's place and breaker first: only a call really sent is an attempt.
        if let refusal = await channel.admit(maxWait: .seconds(30)) {
            let detail = "the \(claim.order.channel.rawValue) channel cannot be called now (\(refusal)); not charged, try again later"
            try await store.finishReplay(claim, .unconfirmed(Reason(code: "not_called", message: detail)), detail: detail)
            return report(letter, .notConfirmed, detail)
        }
        let opened: PaymentTicket?
        do {
            opened = try await store.replayAttempt(claim)
        } catch {
            channel.abandon()
            throw error
        }
        guard let ticket = opened else {
            channel.abandon()
            let detail = "another process took the payment over; not charged"
            try await store.finishReplay(claim, .unconfirmed(Reason(code: "lease_lost", message: detail)), detail: detail)
            return report(letter, .skipped, detail)
        }
        let outcome = await channel.call(PaymentCharger.request(for: ticket))
        switch outcome {
        case .succeeded(let reference):
            let result = PaymentCharger.result(ticket, status: .succeeded, reference: reference, reason: nil)
            let detail = "charged \(reference) with idempotency key \(ticket.idempotencyKey) (attempt \(ticket.attempt))"
            try await store.finishReplay(claim, .charged(ticket, reference: reference, result: result), detail: detail)
            return report(letter, .charged, detail)
        case .declined(let reason):
            let detail = "declined by the channel (\(reason.code): \(reason.message)); the order stays failed"
            try await store.finishReplay(claim, .declined(ticket, reason), detail: detail)
            return report(letter, .declined, detail)
        case .notProcessed(let reason), .notSent(let reason), .retryable(let reason), .unknown(let reason, _):
            // Only a call the channel did not process (or that never left) leaves the payment
            // `failed`; a server error or an unknown answer may have charged: looked up.
            let next = if outcome.chargedNothing { "the dead letter stays open" } else { "the payment is looked up until the channel tells" }
            let detail = "failed again (\(outcome.kind), \(reason.code): \(reason.message)); \(next)"
            try await store.finishReplay(claim, .failedAgain(ticket, outcome), detail: detail)
            return report(letter, .failedAgain, detail)
        }
    }

    /// What a replay would do, asking the channel but changing nothing.
    public func plan(_ letter: DeadLetter, acceptingOtherTerms: Bool = false) async throws -> Report {
        guard let paymentID = letter.paymentID, let payment = try await store.payment(paymentID) else {
            return report(letter, .skipped, "reason \(letter.reason.code): never charged, nothing to replay")
        }
        if payment.state == PaymentState.succeeded.rawValue {
            return report(letter, .alreadySucceeded, "already succeeded (\(payment.channelReference ?? "no reference")); would change nothing")
        }
        guard letter.status == .open else { return report(letter, .skipped, "dead letter is \(letter.status.rawValue); would change nothing") }
        guard payment.state == PaymentState.failed.rawValue || payment.state == PaymentState.resolving.rawValue else {
            return report(letter, .skipped, "payment is \(payment.state); would skip it")
        }
        guard let order = try await store.order(letter.orderID ?? "") else {
            return report(letter, .skipped, "the order row is missing; would skip it")
        }
        let request = PaymentCharger.request(
            for: PaymentTicket(
                paymentID: paymentID, order: order, idempotencyKey: payment.idempotencyKey, attempt: payment.attempts, lease: "",
                state: .failed))
        switch await channels.protection(for: order.channel).lookup(request, reference: payment.channelReference) {
        case .paid(let reference):
            return report(letter, .wouldReplay, "the channel already holds charge \(reference): would settle as succeeded without charging")
        case .notPaid:
            return report(letter, .wouldReplay,
                "not paid at the channel: would charge \(order.amount) \(order.currency.code) minor units once with key \(payment.idempotencyKey)")
        case .paidOnOtherTerms(let reference, let reason):
            if let why = Self.otherTermsRefusal(letter, named: acceptingOtherTerms) {
                return report(letter, .notConfirmed, "charge \(reference) is on other terms; \(why); a replay now would not charge")
            }
            return report(letter, .wouldReplay, "\(reason.message): a replay would accept charge \(reference) as this payment's and settle it as succeeded, without charging")
        case .unknown(let reason):
            return report(letter, .notConfirmed, "the channel could not confirm (\(reason.code)); a replay now would not charge")
        }
    }

    /// Why a charge on other terms found for `letter` is not accepted, or nil when it is. The
    /// operator replaying a `terms_mismatch` letter they named (`named`: `--id`, `--order-id`)
    /// has decided to accept it as the payment's (the difference is theirs to put right at the
    /// channel); found for any other letter, or in a bulk `--all`, nobody has decided yet.
    private static func otherTermsRefusal(_ letter: DeadLetter, named: Bool) -> String? {
        guard letter.reason.code == ChannelOutcome.termsMismatchCode else {
            return "a charge on other terms is accepted only by the replay of a terms_mismatch letter; a replay makes this letter one, and the next replay of it, named with --id or --order-id, accepts the charge"
        }
        return named ? nil : "a charge on other terms is accepted only for a letter named with --id or --order-id, never by --all"
    }

    private func report(_ letter: DeadLetter, _ kind: Report.Kind, _ detail: String) -> Report {
        Report(letterID: letter.id, orderID: letter.orderID, kind: kind, detail: detail)
    }
}
