import CashierCore

/// The operators' replays: DeadLetterStore.beginReplay, DeadLetterReplayer, DeadLetterStore.finishReplay.
extension LifecycleModel {
    mutating func beginReplay(_ actor: Int, dice: Int) {
        guard actors[actor].isIdle, let existing = row else { return }
        let name = Self.actorNames[actor]
        let open = openLetters
        guard !open.isEmpty else { return }
        let letter = open[dice % open.count]
        note("\(name) replays dead letter \(letter)")
        if existing.state == .succeeded {
            letters[letter] = false
            note("\(name): already succeeded, dead letter closed")
            return
        }
        let claim: PaymentTransition
        if PaymentLifecycle.claimReplayFailed.allows(existing.state) {
            claim = PaymentLifecycle.claimReplayFailed
        } else if PaymentLifecycle.claimReplayParked.allows(existing.state) {
            claim = PaymentLifecycle.claimReplayParked
        } else {
            note("\(name): busy, payment is \(existing.state.rawValue)")
            return
        }
        guard apply(claim, by: Writer(name: name, isOperator: true), lease: .take, due: nil) else { return }
        actors[actor] = .replaying(ReplayClaim(letter: letter, lease: row!.lease!.token, attempts: row!.attempts, state: claim.to))
    }

    private func replayWriter(_ actor: Int, _ claim: ReplayClaim, attempt: Int? = nil) -> Writer {
        Writer(name: Self.actorNames[actor], lease: claim.lease, attempt: attempt, isOperator: true)
    }

    mutating func continueReplay(_ actor: Int, _ claim: ReplayClaim, _ lookup: PaymentLookup, dice: Int) {
        let name = Self.actorNames[actor]
        switch lookup {
        case .paid(let reference):
            successLearned = true
            settleReplay(actor, claim, reference)
        case .unknown, .paidOnOtherTerms:
            // (The model's channel charges on the payment's terms only.)
            note("\(name): not confirmed, nothing charged")
            release(claim, closing: false)
        case .notPaid where claim.state == .resolving:
            let applied = apply(PaymentLifecycle.replayUnpaid, by: replayWriter(actor, claim), lease: .keep, due: true)
            if !applied { staleReplayAnswers.insert("not paid") }
            release(claim, closing: applied)
        case .notPaid:
            // DeadLetterReplayer: the channel's place and breaker first; only a call really sent
            // opens an attempt.
            if breakerRefuses(dice: dice) {
                note("\(name): breaker open, not called, no attempt")
                replaysRefusedByTheBreaker += 1
                release(claim, closing: false)
                return
            }
            // `send` takes the payment to `resolving` before the call, with a lookup due once the
            // replay's lease lapses (PaymentStore.send: `retry_due_at = now()`).
            let who = replayWriter(actor, claim, attempt: claim.attempts)
            guard apply(PaymentLifecycle.sendFromReplay, by: who, lease: .refresh, due: true, sends: true) else {
                release(claim, closing: false)
                return
            }
            let ticket = Ticket(lease: claim.lease, attempt: row!.attempts, state: PaymentLifecycle.sendFromReplay.to)
            let charged = channel.holdsCharge(key)
            let outcome = channel.call(key, dice: dice)
            if !charged && channel.holdsCharge(key) { chargedByReplay = true }
            let (nowCharged, running) = (channel.holdsCharge(key), channel.running)
            note("\(name): channel answered \(outcome.kind) (charged: \(nowCharged))" + (running ? " (still running at the channel)" : ""))
            actors[actor] = .replayAnswered(claim, ticket, outcome)
        }
    }

    /// DeadLetterStore.finishReplay of the replay's one call.
    mutating func finishReplay(_ actor: Int, _ claim: ReplayClaim, _ ticket: Ticket, _ outcome: ChannelOutcome) {
        let name = Self.actorNames[actor]
        row?.close(ticket.attempt, ambiguous: !Self.provesNotProcessed(outcome))
        switch outcome {
        case .succeeded(let reference):
            successLearned = true
            settleReplay(actor, claim, reference)
        case .declined:
            // Back to `failed`, the order's `failed` result standing; the letter is closed.
            note("\(name): declined again, the order stays failed")
            let applied = notCharged(actor, claim, ticket, answer: "declined")
            release(claim, closing: applied)
        case .notProcessed:
            // The call did nothing: back to `failed`; the dead letter stays open.
            note("\(name): failed again (not processed), the dead letter stays open")
            notCharged(actor, claim, ticket, answer: "not processed")
            release(claim, closing: false)
        case .notSent:
            preconditionFailure(Self.neverNotSent)
        case .retryable, .unknown:
            // The money may have moved after all (a server error does not say): it stays
            // `resolving`, looked up like any unknown outcome. Refused (another process holds it now), it is `resolving` there.
            let who = replayWriter(actor, claim, attempt: ticket.attempt)
            if !apply(PaymentLifecycle.replayUnknown, by: who, lease: .keep, due: true) {
                staleReplayAnswers.insert("unknown")
            }
            release(claim, closing: false)
        }
    }

    /// `replayNotCharged` under the replay's lease and attempt; refused, the payment is in other
    /// hands (looked up, or settled) and the letter stays open.
    @discardableResult
    private mutating func notCharged(_ actor: Int, _ claim: ReplayClaim, _ ticket: Ticket, answer: String) -> Bool {
        let who = replayWriter(actor, claim, attempt: ticket.attempt)
        let applied = apply(PaymentLifecycle.replayNotCharged, by: who, lease: .keep, due: false)
        if !applied { staleReplayAnswers.insert(answer) }
        return applied
    }

    /// `replaySucceed` under the replay's lease; refused (another replay took the payment over),
    /// the success is recorded all the same through `learnSuccess` and the letter stays open.
    private mutating func settleReplay(_ actor: Int, _ claim: ReplayClaim, _ reference: String) {
        let applied = apply(PaymentLifecycle.replaySucceed, by: replayWriter(actor, claim), lease: .keep, due: false, reference: reference)
        release(claim, closing: applied)
        if !applied {
            staleReplayAnswers.insert("succeeded")
            learnSuccess(reference, attempt: nil, by: Self.actorNames[actor] + " (lease taken over)")
        }
    }

    private mutating func release(_ claim: ReplayClaim, closing: Bool) {
        if row?.lease?.token == claim.lease { row?.lease = nil }
        guard closing else { return }
        if letters[claim.letter] == true { note("dead letter \(claim.letter) closed") }
        letters[claim.letter] = false
    }
}
