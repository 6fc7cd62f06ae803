import CashierCore

/// The order worker (OrderProcessor, PaymentStore.accept), the charger (PaymentCharger), the
/// retry worker's claims and resolver (PaymentStore+Retry, PaymentResolver), the sweeper, the
/// notifications (PaymentStore.learnSuccess) and the retry intake (PaymentStore.arm).
extension LifecycleModel {
    private func writer(_ actor: Int, _ ticket: Ticket) -> Writer {
        Writer(name: Self.actorNames[actor], lease: ticket.lease, attempt: ticket.attempt)
    }

    /// Whether the channel's breaker refuses a call (`ChannelProtection.admit`): only before the
    /// drain, on a roll of the dice.
    func breakerRefuses(dice: Int) -> Bool { !channel.recovered && dice / 10 % 10 == 9 }

    /// The order worker (OrderProcessor.process): the channel's place and breaker first; then a
    /// new order is accepted with its first attempt open and called at once (PaymentStore.accept
    /// `openAttempt`), or accepted without one and deferred when the breaker refused; a known
    /// order is taken over when its lease lapsed.
    mutating func deliverOrder(to actor: Int, dice: Int) {
        guard actors[actor].isIdle else { return }
        let name = Self.actorNames[actor]
        let refused = breakerRefuses(dice: dice)
        if refused { note("\(name): breaker open") }
        guard let existing = row else {
            apply(PaymentLifecycle.accept, by: Writer(name: name), lease: .take, due: false, sends: !refused)
            let ticket = Ticket(lease: row!.lease!.token, attempt: row!.attempts, state: row!.state, refused: refused)
            if refused {
                actors[actor] = .holding(ticket)
            } else {
                call(actor, ticket, dice: dice)
            }
            return
        }
        let resume = PaymentLifecycle.resume
        guard resume.allows(existing.state), existing.isFree else {
            note("\(name): duplicate order event (\(existing.state.rawValue)), nothing to do")
            return
        }
        apply(resume, by: Writer(name: name), lease: .take, due: nil, condition: existing.isFree, interrupts: true)
        actors[actor] = .holding(Ticket(lease: row!.lease!.token, attempt: row!.attempts, state: resume.to, refused: refused))
    }

    /// PaymentCharger.charge: the next call of a held payment (its attempt not open yet), or
    /// PaymentCharger.refused when the order worker's breaker refused it.
    mutating func charge(_ actor: Int, _ held: Ticket, dice: Int) {
        actors[actor] = .idle
        let who = writer(actor, held)
        if held.refused {
            deferUnsent(who, held)
            return
        }
        guard policy.allowsAnotherAttempt(after: held.attempt) else {
            apply(PaymentLifecycle.lookUp, by: who, lease: .clear, due: true)
            return
        }
        if breakerRefuses(dice: dice) {
            note("\(who.name): breaker open")
            deferUnsent(who, held)
            return
        }
        let send = switch held.state {
        case .retryScheduled: PaymentLifecycle.sendFromRetry
        case .failed: PaymentLifecycle.sendFromReplay
        default: PaymentLifecycle.sendFromProcessing
        }
        guard apply(send, by: who, lease: .refresh, due: nil, sends: true) else { return }
        var sent = held
        sent.attempt = row!.attempts
        call(actor, sent, dice: dice)
    }

    /// PaymentCharger.deferUnsent: no call, no attempt; the payment waits on the retry schedule.
    private mutating func deferUnsent(_ who: Writer, _ held: Ticket) {
        note("\(who.name): not called")
        let t = held.state == .processing ? PaymentLifecycle.deferUnsent : PaymentLifecycle.reschedule
        apply(t, by: who, lease: .clear, due: true)
    }

    /// PaymentCharger.call: the call of `sent`, whose attempt is open.
    mutating func call(_ actor: Int, _ sent: Ticket, dice: Int) {
        let who = writer(actor, sent)
        let outcome = channel.call(key, dice: dice)
        let nowCharged = channel.holdsCharge(key)
        switch outcome {
        case .notProcessed, .retryable: if nowCharged { retryableWhileCharged = true }
        case .succeeded, .declined, .unknown: break
        case .notSent: preconditionFailure(Self.neverNotSent)
        }
        note("\(who.name): channel answered \(outcome.kind) (charged: \(nowCharged))")
        actors[actor] = .answered(sent, outcome)
    }

    /// Whether an answer proves the call did nothing (`notProcessed`): attempt rows of other
    /// answers count as calls that may have charged (PaymentStore.hadCallThatMayHaveCharged).
    static func provesNotProcessed(_ outcome: ChannelOutcome) -> Bool {
        if case .notProcessed = outcome { true } else { false }
    }

    /// PaymentCharger.record: the answer of the call `ticket` made.
    mutating func record(_ actor: Int, _ ticket: Ticket, _ outcome: ChannelOutcome) {
        let who = writer(actor, ticket)
        // The attempt row is closed even when the move is refused.
        row?.close(ticket.attempt, ambiguous: !Self.provesNotProcessed(outcome))
        switch outcome {
        case .succeeded(let reference):
            successLearned = true
            if !apply(PaymentLifecycle.succeed, by: who, lease: .clear, due: false, reference: reference) {
                learnSuccess(reference, attempt: ticket.attempt, by: who.name + " (late answer)")
            }
        case .declined:
            apply(PaymentLifecycle.decline, by: who, lease: .clear, due: false)
        case .notProcessed, .retryable:
            if !policy.allowsAnotherAttempt(after: ticket.attempt) {
                // Failed only when this call and every earlier one were not processed; a server
                // error, or an earlier call that went unanswered, may have charged: looked up.
                if Self.provesNotProcessed(outcome), !(row?.hadAmbiguousCall(before: ticket.attempt) ?? true) {
                    apply(PaymentLifecycle.exhaust, by: who, lease: .clear, due: false, deadLetter: "retries_exhausted")
                } else {
                    apply(PaymentLifecycle.lookUp, by: who, lease: .clear, due: true)
                }
            } else {
                let t = ticket.state == .processing ? PaymentLifecycle.handOver : PaymentLifecycle.reschedule
                apply(t, by: who, lease: .clear, due: true)
            }
        case .unknown(_, let reference):
            apply(PaymentLifecycle.lookUp, by: who, lease: .clear, due: true, reference: reference)
        case .notSent:
            preconditionFailure(Self.neverNotSent)
        }
    }

    /// The model's channel is one that was reached: a charge that never left (`notSent`, no
    /// attempt) is covered end to end (RetryEndToEndTests, DeadLetterEndToEndTests), not here.
    static let neverNotSent = "the model's channel always receives the call; it never answers notSent"

    /// PaymentStore.claimDueLookups, then claimDueRetries.
    mutating func claim(_ actor: Int) {
        guard actors[actor].isIdle, let existing = row else { return }
        for t in [PaymentLifecycle.claimLookup, PaymentLifecycle.claimRetry] where t.allows(existing.state) {
            let due = existing.due && existing.isFree
            let claimer = Writer(name: Self.actorNames[actor])
            guard apply(t, by: claimer, lease: .take, due: nil, condition: due, interrupts: true) else { return }
            let ticket = Ticket(lease: row!.lease!.token, attempt: row!.attempts, state: t.to)
            actors[actor] = t == PaymentLifecycle.claimLookup ? .lookingUp(ticket) : .holding(ticket)
            return
        }
    }

    /// PaymentResolver.resolve: what a lookup leads to.
    mutating func resolve(_ actor: Int, _ ticket: Ticket, _ lookup: PaymentLookup, lookedWhileRunning: Bool = false, dice: Int) {
        let who = writer(actor, ticket)
        switch lookup {
        case .paid(let reference):
            successLearned = true
            if !apply(PaymentLifecycle.resolvePaid, by: who, lease: .clear, due: false, reference: reference) {
                learnSuccess(reference, attempt: ticket.attempt, by: who.name + " (late lookup)")
            }
        case .notPaid where lookedWhileRunning:
            // The settle window (LookupPolicy.believesNoCharge, with `now` taken before the lookup
            // was sent): the last call may still have been running at the channel when it looked,
            // so "no charge" means "not yet", however late the answer came.
            apply(PaymentLifecycle.lookUpAgain, by: who, lease: .clear, due: true)
        case .notPaid:
            if policy.allowsAnotherAttempt(after: ticket.attempt) {
                apply(PaymentLifecycle.resolveUnpaid, by: who, lease: .clear, due: true)
            } else {
                apply(PaymentLifecycle.exhaust, by: who, lease: .clear, due: false, deadLetter: "retries_exhausted")
            }
        case .paidOnOtherTerms:
            // The model's channel charges on the payment's terms only; as PaymentResolver would.
            apply(PaymentLifecycle.park, by: who, lease: .clear, due: false, deadLetter: "terms_mismatch")
        case .unknown:
            if dice / 10 % 10 >= 7 {
                apply(PaymentLifecycle.park, by: who, lease: .clear, due: false, deadLetter: "outcome_unknown")
            } else {
                apply(PaymentLifecycle.lookUpAgain, by: who, lease: .clear, due: true)
            }
        }
    }

    /// PaymentStore.sweep: a `processing` payment whose lease lapsed.
    mutating func sweep() {
        guard let existing = row, PaymentLifecycle.sweepSent.allows(existing.state), existing.isFree else { return }
        let t = existing.openAttempts.isEmpty ? PaymentLifecycle.sweepUnsent : PaymentLifecycle.sweepSent
        apply(t, by: Writer(name: "sweeper"), lease: .clear, due: true, condition: existing.isFree, interrupts: true)
    }

    /// PaymentStore.learnSuccess, along `PaymentLifecycle.onLearnedSuccess`.
    mutating func learnSuccess(_ reference: String, attempt: Int?, by name: String) {
        guard let existing = row else { return }
        if let attempt { row?.close(attempt, ambiguous: false) }
        guard let t = PaymentLifecycle.onLearnedSuccess(from: existing.state) else {
            note("\(name): success learned, already succeeded")
            return
        }
        if t == PaymentLifecycle.contradict {
            apply(t, by: Writer(name: name), lease: .keep, due: nil, deadLetter: "channel_contradiction")
        } else if apply(t, by: Writer(name: name), lease: .clear, due: false, reference: reference) {
            for code in openLetters { letters[code] = false }
        }
    }

    /// A payment notification of a real charge (NotificationReceiver → PaymentStore.learnSuccess).
    mutating func notify(dice: Int) {
        guard config.notifies, !channel.notifications.isEmpty else { return }
        let index = dice % channel.notifications.count
        let reference = channel.notifications[index]
        if dice % 2 == 0 { channel.notifications.remove(at: index) }  // acknowledged; otherwise delivered again later
        successLearned = true
        learnSuccess(reference, attempt: nil, by: "notification")
    }

    /// PaymentStore.arm: the retry intake confirms a hand-over message.
    mutating func arm(dice: Int) {
        guard !retryMessages.isEmpty, let existing = row else { return }
        let attempts = retryMessages[0]
        if dice % 2 == 0 { retryMessages.removeFirst() }  // committed; otherwise read again after a rebalance
        let condition = existing.attempts == attempts && !existing.due
        apply(PaymentLifecycle.arm, by: Writer(name: "retry intake"), lease: .keep, due: true, condition: condition)
    }
}
