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
            apply(PaymentLifecycle.replaySucceed, by: replayWriter(actor, claim), lease: .keep, due: false, reference: reference)
            release(claim, closing: true)
        case .unknown:
            note("\(name): not confirmed, nothing charged")
            release(claim, closing: false)
        case .notPaid where claim.state == .resolving:
            apply(PaymentLifecycle.replayUnpaid, by: replayWriter(actor, claim), lease: .keep, due: true)
            release(claim, closing: true)
        case .notPaid:
            let who = replayWriter(actor, claim, attempt: claim.attempts)
            guard apply(PaymentLifecycle.sendFromReplay, by: who, lease: .refresh, due: nil, sends: true) else {
                release(claim, closing: false)
                return
            }
            let ticket = Ticket(lease: claim.lease, attempt: row!.attempts, state: .failed)
            // DeadLetterReplayer: `replayAttempt` opened the attempt; `channel.charge` admits the
            // call only now, and answers nil when the breaker refuses it.
            if !channel.recovered, dice / 10 % 10 == 9 {
                note("\(name): breaker open, not called (attempt \(ticket.attempt) stays counted)")
                unsentReplayAttempts += 1
                release(claim, closing: false)
                return
            }
            let charged = channel.holdsCharge(key)
            let outcome = channel.call(key, dice: dice)
            var called = claim
            called.charged = !charged && channel.holdsCharge(key)
            if called.charged {
                chargedByReplay = true
                if case .unknown = outcome { replayCallUnresolved = true }
            }
            let nowCharged = channel.holdsCharge(key)
            note("\(name): channel answered \(outcome.kind) (charged: \(nowCharged))")
            actors[actor] = .replayAnswered(called, ticket, outcome)
        }
    }

    mutating func finishReplay(_ actor: Int, _ claim: ReplayClaim, _ ticket: Ticket, _ outcome: ChannelOutcome) {
        let name = Self.actorNames[actor]
        row?.openAttempts.remove(ticket.attempt)
        switch outcome {
        case .succeeded(let reference):
            successLearned = true
            apply(PaymentLifecycle.replaySucceed, by: replayWriter(actor, claim), lease: .keep, due: false, reference: reference)
            release(claim, closing: true)
        case .declined:
            note("\(name): declined again, the order stays failed")
            release(claim, closing: true)
        case .retryable, .unknown:
            note("\(name): failed again (\(outcome.kind)), the dead letter stays open")
            release(claim, closing: false)
        }
    }

    private mutating func release(_ claim: ReplayClaim, closing: Bool) {
        let held = row?.lease?.token == claim.lease
        if held { row?.lease = nil }
        guard closing else { return }
        if !held, letters[claim.letter] == true { staleReplayClosedLetter = true }
        if letters[claim.letter] == true { note("dead letter \(claim.letter) closed") }
        letters[claim.letter] = false
    }
}
