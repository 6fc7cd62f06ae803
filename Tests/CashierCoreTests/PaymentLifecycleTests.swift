import CashierCore
import PropertyBased
import Testing

/// The money rules of DESIGN.md section 1 checked against the `PaymentLifecycle` table: random
/// interleavings of order workers, retry workers, the sweeper, notifications and operators'
/// replays, with duplicate deliveries, crashes, lapsed leases and late answers, run through
/// `LifecycleModel`, which changes the payment only along the table.
///
/// A property that a rule of the table or of the store breaks is not weakened: the runs that a
/// `Finding` explains are counted and reported once, as a known issue (the suite stays green, the
/// finding stays in sight), every other run is checked as strictly as before, and each finding's
/// shortest sequence is pinned in a test of its own, which fails once the finding is fixed (its
/// `withKnownIssue` goes then, and the model learns the new rule).
@Suite struct PaymentLifecycleTests {
    static let runs = 1000

    /// Random scenarios: up to 60 steps, 1 to 3 allowed attempts, with or without notifications.
    static func scenarios(
        _ channel: ChannelBehaviour = .honest, mix: Step.Mix = .everything
    ) -> Generator<Scenario, some SendableSequenceType> {
        let step = zip(Gen.int(in: 0...99), Gen.int(in: 0...5), Gen.int(in: 0...99)).map { roll, actor, dice in
            Step(roll: roll, actor: actor, dice: dice, mix: mix)
        }
        return zip(Gen.int(in: 1...3), Gen.bool(), step.array(of: 1...60)).map { maxAttempts, notifies, steps in
            Scenario(config: ModelConfig(maxAttempts: maxAttempts, notifies: notifies, channel: channel), steps: steps)
        }
    }

    // MARK: The table itself

    @Test func everyTransitionButAcceptStartsFromSomeState() {
        for transition in PaymentLifecycle.all {
            #expect(transition.from.isEmpty == (transition == PaymentLifecycle.accept), "\(transition)")
        }
    }

    @Test func everyTransitionThatPublishesAResultEndsInATerminalState() {
        for transition in PaymentLifecycle.all where transition.emits.contains(.result) {
            #expect(transition.to.isTerminal, "\(transition) publishes a result but leads to \(transition.to.rawValue)")
        }
    }

    /// A holder is fenced: a writer naming a lease that was taken over, or an attempt that is no
    /// longer the last one, changes nothing and emits nothing; the current holder is let through.
    @Test func everyHolderTransitionRefusesAStaleHolder() {
        let holderTransitions = PaymentLifecycle.all.filter { $0.guardedBy == .holder }
        #expect(!holderTransitions.isEmpty)
        let stale = [
            Writer(name: "taken over", lease: 1, attempt: 2),
            Writer(name: "older attempt", lease: 2, attempt: 1),
            Writer(name: "no lease", lease: nil, attempt: 2),
        ]
        for transition in holderTransitions {
            for state in transition.from.sorted(by: { $0.rawValue < $1.rawValue }) {
                for writer in stale + [Writer(name: "holder", lease: 2, attempt: 2)] {
                    var model = LifecycleModel(ModelConfig(maxAttempts: 3, notifies: false, channel: .honest))
                    model.row = PaymentRow(state: state, attempts: 2, lease: Lease(token: 2))
                    let letter = transition.emits.contains(.deadLetter) ? "test" : nil
                    let moved = model.apply(transition, by: writer, lease: .clear, due: true, deadLetter: letter)
                    let isHolder = writer.name == "holder"
                    #expect(moved == isHolder, "\(transition) from \(state.rawValue) by \(writer.name)")
                    #expect(model.row?.state == (isHolder ? transition.to : state))
                    #expect(model.results.isEmpty == (!isHolder || !transition.emits.contains(.result)))
                    #expect(model.retryMessages.isEmpty == (!isHolder || !transition.emits.contains(.retry)))
                    #expect(model.letters.isEmpty == (!isHolder || letter == nil))
                }
            }
        }
    }

    /// Someone can hold every state a holder's transition starts from: a lease is taken there.
    @Test func everyHolderTransitionStartsWhereALeaseIsTaken() {
        let leased = Set(
            [PaymentLifecycle.accept, PaymentLifecycle.resume, PaymentLifecycle.claimRetry, PaymentLifecycle.claimLookup].map(\.to))
        for transition in PaymentLifecycle.all where transition.guardedBy == .holder {
            #expect(transition.from.isSubset(of: leased), "\(transition) starts from a state nobody holds")
        }
    }

    /// The scenarios are worth something only if they reach the whole table. `arm` is the one
    /// transition they never make: every hand-over writes its due time, so arming finds nothing
    /// to do (PaymentStore.arm: `retry_due_at IS NULL`).
    @Test func scenariosMakeEveryTransitionButArm() async {
        var reached: Set<PaymentTransition> = []
        await propertyCheck(count: Self.runs, input: Self.scenarios()) { reached.formUnion(LifecycleModel.run($0).applied) }
        await propertyCheck(count: Self.runs / 4, input: Self.scenarios(.contradicting)) {
            reached.formUnion(LifecycleModel.run($0).applied)
        }
        let notModelled: Set<PaymentTransition> = [PaymentLifecycle.arm]
        let missing = PaymentLifecycle.all.filter { !reached.contains($0) && !notModelled.contains($0) }
        #expect(missing.isEmpty, "never made: \(missing.map { "\($0) from \($0.fromNames)" })")
    }

    // MARK: The money rules

    /// Invariant 1: every call names the order's one key, and the channel charged at most once.
    @Test func neverTwoSuccessfulChargesForOnePayment() async {
        await propertyCheck(count: Self.runs, input: Self.scenarios()) { scenario in
            let run = LifecycleModel.run(scenario)
            #expect(Set(run.channel.calls.keys).isSubset(of: [run.key]), "\(run.narrative)")
            #expect(run.channel.charges.values.reduce(0, +) <= 1, "\(run.narrative)")
        }
    }

    /// Invariant 2: one terminal result per order (a replay may publish `succeeded` after
    /// `failed`, or have it looked up and published, nothing else), and a result published again
    /// has the same content.
    @Test func neverTwoDifferentResultsForOneOrder() async {
        await propertyCheck(count: Self.runs, input: Self.scenarios()) { scenario in
            let run = LifecycleModel.run(scenario)
            let statuses = run.results.map(\.status)
            let replayedSuccess = statuses == [.failed, .succeeded] && run.results[1].afterReplay
            #expect(statuses.count <= 1 || replayedSuccess, "results \(statuses)\n\(run.narrative)")
            #expect(run.conflictingResults.isEmpty, "\(run.conflictingResults)\n\(run.narrative)")
            #expect(run.modelErrors.isEmpty, "\(run.modelErrors)")
        }
    }

    /// Invariant 6: `failed` is published only when the channel said nothing was charged — never
    /// while it holds a charge (an unknown answer is looked up first), nor while a call that
    /// will charge is still running at the channel.
    @Test func failedIsNeverPublishedWhileTheChannelHoldsACharge() async {
        var known = KnownRuns(Finding.all)
        await propertyCheck(count: Self.runs, input: Self.scenarios()) { scenario in
            let run = LifecycleModel.run(scenario)
            let holds = run.failedNeverPublishedWhileCharged
            if !holds, known.absorbs(run) { return }
            #expect(holds, "\(run.narrative)")
        }
        known.report()
    }

    /// Invariant 6: a success learned by anyone is never dropped, and an outcome the channel
    /// could not tell is looked up until it can — so when the honest channel charged, the payment
    /// ends `succeeded` once drained, or parked for a person if nobody was ever told of the charge.
    @Test func aChargeAlwaysEndsSucceeded() async {
        var known = KnownRuns(Finding.all)
        await propertyCheck(count: Self.runs, input: Self.scenarios()) { scenario in
            let run = LifecycleModel.run(scenario)
            let holds = run.chargeEndsSucceeded
            if !holds, known.absorbs(run) { return }
            #expect(holds, "\(run.narrative)")
        }
        known.report()
    }

    /// With a channel that contradicts itself (declines a call it charged, misses a charge on a
    /// lookup), a success anyone learned ends `succeeded` or, when the payment had already failed
    /// on the channel's word, as a `channel_contradiction` dead letter for a person.
    @Test func aLearnedSuccessEndsSucceededOrAsAContradiction() async {
        await propertyCheck(count: Self.runs, input: Self.scenarios(.contradicting)) { scenario in
            let run = LifecycleModel.run(scenario)
            let contradiction = run.row?.state == .failed && run.letters["channel_contradiction"] == true
            #expect(!run.successLearned || run.row?.state == .succeeded || contradiction, "\(run.narrative)")
        }
    }

    /// Every run ends, once drained, in a terminal state or parked in `resolving` (a dead letter
    /// `outcome_unknown` for a person, no more lookups) — never stuck where nobody moves it.
    @Test func everyRunEndsSettledOrParked() async {
        await propertyCheck(count: Self.runs, input: Self.scenarios()) { scenario in
            let run = LifecycleModel.run(scenario)
            #expect(run.drainSettled, "the drain did not settle\n\(run.narrative)")
            #expect(run.row.map { $0.state.isTerminal || run.isParked } ?? false, "ends \(run.row?.state.rawValue ?? "without a payment")\n\(run.narrative)")
        }
    }

    /// Invariant 7: the attempts counter is the number of calls the channel received.
    @Test func attemptsCountOnlyCallsSent() async {
        await propertyCheck(count: Self.runs, input: Self.scenarios()) { scenario in
            let run = LifecycleModel.run(scenario)
            #expect((run.row?.attempts ?? 0) == run.callsReceived, "attempts \(run.row?.attempts ?? 0), calls \(run.callsReceived)\n\(run.narrative)")
        }
    }

    /// Invariant 6 again, with a channel whose connection-level failures (refused, a 429 in front
    /// of the idempotency layer, a proxy's 503) may answer any call, charged key or not.
    @Test func failedIsNeverPublishedWhileChargedWhenAnyCallMayFailToConnect() async {
        var known = KnownRuns(Finding.all)
        await propertyCheck(count: 2 * Self.runs, input: Self.scenarios(.retryableAnyCall, mix: .takeOvers)) { scenario in
            let run = LifecycleModel.run(scenario)
            let holds = run.failedNeverPublishedWhileCharged
            if !holds, known.absorbs(run) { return }
            #expect(holds, "\(run.narrative)")
        }
        known.report()
    }

    /// Invariant 6 with a channel whose server errors (5xx) may come after it charged: a
    /// `retryable` last answer is looked up, never failed on its word.
    @Test func failedIsNeverPublishedWhileChargedWhenServerErrorsMayFollowACharge() async {
        var known = KnownRuns(Finding.all)
        await propertyCheck(count: 2 * Self.runs, input: Self.scenarios(.serverErrors, mix: .takeOvers)) { scenario in
            let run = LifecycleModel.run(scenario)
            let holds = run.failedNeverPublishedWhileCharged && run.chargeEndsSucceeded
            if !holds, known.absorbs(run) { return }
            #expect(holds, "\(run.narrative)")
        }
        known.report()
    }

    /// The last allowed call is answered 500 after it charged: looked up, found, `succeeded`.
    @Test func aServerErrorOnTheLastAttemptIsLookedUpNotFailed() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .serverErrors),
            steps: [
                Step(kind: .deliverOrder, dice: 60),  // the worker accepts; its call 1 charges, then answers 500
                Step(kind: .advance),  // the last attempt answered a server error: look up → resolving
            ]))
        #expect(run.retryableWhileCharged && run.applied.contains(PaymentLifecycle.lookUp), "\(run.narrative)")
        #expect(!run.applied.contains(PaymentLifecycle.exhaust) && run.row?.state == .succeeded, "\(run.narrative)")
    }

    @Test func aChargeAlwaysEndsSucceededWhenAnyCallMayFailToConnect() async {
        var known = KnownRuns(Finding.all)
        await propertyCheck(count: 2 * Self.runs, input: Self.scenarios(.retryableAnyCall, mix: .takeOvers)) { scenario in
            let run = LifecycleModel.run(scenario)
            let holds = run.chargeEndsSucceeded
            if !holds, known.absorbs(run) { return }
            #expect(holds, "\(run.narrative)")
        }
        known.report()
    }

    // MARK: The fixed findings, each as its shortest sequence

    /// A replay of a `failed` payment (retries exhausted) finds no charge and makes its one call;
    /// the call charges but times out. `replay unknown` puts the payment in `resolving`, the
    /// resolver's lookup finds the charge, and the order's `succeeded` follows its `failed`.
    @Test func aReplayCallThatTimesOutIsLookedUp() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 2),  // worker A accepts the order with attempt 1 open; its call: retryable
                Step(kind: .advance),  // no attempt left, no earlier call unanswered: exhaust → failed, dead letter retries_exhausted
                Step(kind: .replay),  // operator E claims the dead letter's payment
                Step(kind: .advance),  // E's lookup: not paid
                Step(kind: .advance, dice: 3),  // E's call 2 (same key): charged, answer unknown (timeout)
            ]))
        #expect(run.chargedByReplay && run.applied.contains(PaymentLifecycle.replayUnknown), "\(run.narrative)")
        #expect(run.row?.state == .succeeded && run.results.map(\.status) == [.failed, .succeeded], "\(run.narrative)")
    }

    /// The same with notifications: the notification of the replay's own charge settles the
    /// payment (`learn success` from `resolving`), not a contradiction.
    @Test func aNotifiedReplayChargeSettlesThePayment() {
        var steps = [Step(kind: .deliverOrder, dice: 2), Step(kind: .advance), Step(kind: .replay)]
        steps += [Step(kind: .advance), Step(kind: .advance, dice: 3), Step(kind: .advance), Step(kind: .notify)]
        let run = LifecycleModel.run(Scenario(config: ModelConfig(maxAttempts: 1, notifies: true, channel: .honest), steps: steps))
        #expect(run.applied.contains(PaymentLifecycle.learnSuccess) && !run.applied.contains(PaymentLifecycle.contradict), "\(run.narrative)")
        #expect(run.row?.state == .succeeded, "\(run.narrative)")
    }

    /// A replay asks the breaker before it opens its attempt: an open breaker refuses the call
    /// and no attempt is counted.
    @Test func aReplayRefusedByTheBreakerCountsNoAttempt() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 2), Step(kind: .advance), Step(kind: .replay),
                Step(kind: .advance),  // E's lookup: not paid
                Step(kind: .advance, dice: 90),  // the breaker refuses E's call: no attempt opened
            ]))
        #expect(run.replaysRefusedByTheBreaker == 1, "\(run.narrative)")
        #expect(run.row?.attempts == 1 && run.row?.attempts == run.callsReceived && run.openLetters == ["retries_exhausted"], "\(run.narrative)")
    }

    /// Two operators replay the same parked payment. E's lease lapses and F's replay takes the
    /// payment over (its lookup cannot tell); E's "not paid" is then refused `replay unpaid`,
    /// and the `outcome_unknown` dead letter stays open: the payment stays parked for a person.
    @Test func aStaleReplayLeavesAParkedPaymentParked() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 4),  // worker A accepts; its call 1: unknown (nothing charged)
                Step(kind: .advance),  // look up → resolving
                Step(kind: .claim),  // retry worker C claims the lookup
                Step(kind: .advance, dice: 2),  // C's lookup: unknown
                Step(kind: .advance, dice: 70),  // past the horizon: park, dead letter outcome_unknown
                Step(kind: .replay, actor: 0),  // operator E claims the parked payment
                Step(kind: .lapse),  // E's lease lapses
                Step(kind: .replay, actor: 1),  // operator F replays the same open dead letter
                Step(kind: .advance, actor: 1, dice: 2),  // F's lookup: unknown
                Step(kind: .advance, actor: 1),  // F: not confirmed, lease released, dead letter open
                Step(kind: .advance),  // E's lookup: not paid
                Step(kind: .advance),  // E: replay unpaid refused; the dead letter stays open
            ]))
        #expect(run.staleReplayAnswers == ["not paid"] && run.openLetters == ["outcome_unknown"], "\(run.narrative)")
        #expect(run.row.map { $0.state.isTerminal || run.isParked } == true, "\(run.narrative)")
    }

    /// Worker A's call 1 charges, and A crashes before recording the answer. The redelivered
    /// order is resumed by worker B (attempt 1 closed as interrupted); B's call 2, the last
    /// allowed, cannot connect. The retryable last answer follows an interrupted call, so the
    /// payment is looked up (`look up`), not exhausted, and the lookup finds the charge.
    @Test func aRetryableLastAnswerAfterAnInterruptedChargeIsLookedUp() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 2, notifies: false, channel: .retryableAnyCall),
            steps: [
                Step(kind: .deliverOrder),  // worker A accepts; its call 1: charged, succeeded — not recorded yet
                Step(kind: .crash),  // A dies before recording it
                Step(kind: .lapse),  // its lease lapses
                Step(kind: .deliverOrder, actor: 1),  // the order is redelivered to worker B: resume
                Step(kind: .advance, dice: 50),  // B's call 2 (same key): connection refused
                Step(kind: .advance),  // the last attempt, after an interrupted one: look up → resolving
            ]))
        #expect(run.retryableWhileCharged && run.applied.contains(PaymentLifecycle.lookUp), "\(run.narrative)")
        #expect(!run.applied.contains(PaymentLifecycle.exhaust) && run.row?.state == .succeeded, "\(run.narrative)")
    }

    /// A call times out while it is still running at the channel. The resolver's lookup finds no
    /// charge yet; with no attempt left it would exhaust the payment, but the last call has not
    /// finished there (the settle window), so it looks again; the call then charges, and the
    /// next lookup finds it.
    @Test func aLookupsNoChargeWhileTheCallIsStillRunningIsNotBelieved() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 10),  // worker A's call 1: timeout, still running at the channel
                Step(kind: .advance),  // look up → resolving
                Step(kind: .claim),  // retry worker C claims the lookup
                Step(kind: .advance),  // C's lookup: not paid (not yet)
                Step(kind: .advance),  // not settled: look up again
                Step(kind: .land),  // the call finishes at the channel: charged
            ]))
        #expect(run.notPaidWhileRunning && run.applied.contains(PaymentLifecycle.lookUpAgain), "\(run.narrative)")
        #expect(!run.applied.contains(PaymentLifecycle.exhaust) && run.row?.state == .succeeded, "\(run.narrative)")
    }

    /// A call times out while it is still running at the channel; the resolver's lookup is made
    /// inside the settle window and finds no charge yet; the call then charges; the resolver
    /// decides only now, after the window. The window is measured when the lookup was sent
    /// (PaymentResolver takes `now` before the lookup), so the stale "no charge" is not believed:
    /// it looks again, and finds the charge.
    @Test func aLookupMadeInsideTheSettleWindowIsNotBelievedOnceItHasPassed() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 10),  // worker A's call 1: timeout, still running at the channel
                Step(kind: .advance),  // look up → resolving
                Step(kind: .claim),  // retry worker C claims the lookup
                Step(kind: .advance),  // C's lookup: not paid (the call is still running)
                Step(kind: .land),  // the call finishes at the channel: charged
                Step(kind: .advance),  // C decides after the window: the lookup was made inside it → look up again
            ]))
        #expect(run.notPaidWhileRunning && run.applied.contains(PaymentLifecycle.lookUpAgain), "\(run.narrative)")
        #expect(!run.applied.contains(PaymentLifecycle.exhaust), "\(run.narrative)")
        #expect(run.failedNeverPublishedWhileCharged && run.row?.state == .succeeded, "\(run.narrative)")
    }

    /// A replay of a `failed` payment finds no charge and makes its one call, which charges; the
    /// replay (the operator's `cashier dlq replay` process) dies before `finishReplay`. Its
    /// `send` had made the payment `resolving` with a lookup due, so once the replay's lease
    /// lapses the retry worker claims the lookup (attempt 2 closed as interrupted), finds the
    /// charge, and the order's `succeeded` follows its `failed`.
    @Test func aReplayThatDiesAfterItsCallIsLookedUp() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 2),  // worker A's call 1: retryable
                Step(kind: .advance),  // exhaust → failed, dead letter retries_exhausted
                Step(kind: .replay),  // operator E claims the payment
                Step(kind: .advance),  // E's lookup: not paid
                Step(kind: .advance),  // E's send → resolving; call 2: charged, succeeded — not recorded yet
                Step(kind: .crash),  // E dies
            ]))
        #expect(run.replayDiedAfterItsCall && run.chargedByReplay && run.applied.contains(PaymentLifecycle.sendFromReplay), "\(run.narrative)")
        #expect(run.applied.contains(PaymentLifecycle.claimLookup) && run.applied.contains(PaymentLifecycle.resolvePaid), "\(run.narrative)")
        #expect(run.row?.state == .succeeded && run.row?.openAttempts.isEmpty == true, "\(run.narrative)")
        #expect(run.results.map(\.status) == [.failed, .succeeded] && run.channel.charges.values.reduce(0, +) == 1, "\(run.narrative)")
    }

    /// Two operators replay the same dead letter. F's replay finds no charge and makes its call,
    /// which charges; F is slow and its lease lapses; E's replay of the still-open dead letter
    /// takes the payment over — `resolving` since F's `send`, so as a parked one — and its lookup
    /// cannot tell. F's `replay succeed` is refused; its success goes through `learn success`,
    /// which finds the payment `resolving` and settles it: `succeeded`, not a contradiction.
    @Test func aStaleReplaysOwnChargeSettlesThePayment() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 2), Step(kind: .advance),  // exhausted → failed
                Step(kind: .replay, actor: 1),  // operator F claims the payment
                Step(kind: .advance),  // F's lookup: not paid
                Step(kind: .advance),  // F's send → resolving; call 2: charged, succeeded — not recorded yet
                Step(kind: .lapse),  // F's lease lapses
                Step(kind: .replay, actor: 0),  // operator E replays the same open dead letter: takes the payment over
                Step(kind: .advance, actor: 0, dice: 2),  // E's lookup: unknown
                Step(kind: .advance, actor: 1),  // F: replay succeed refused → learn success → succeeded
                Step(kind: .advance, actor: 0),  // E: not confirmed, lease released
            ]))
        #expect(run.staleReplayAnswers == ["succeeded"] && run.applied.contains(PaymentLifecycle.learnSuccess), "\(run.narrative)")
        #expect(!run.applied.contains(PaymentLifecycle.contradict) && run.openLetters.isEmpty, "\(run.narrative)")
        #expect(run.row?.state == .succeeded && run.results.map(\.status) == [.failed, .succeeded], "\(run.narrative)")
    }

    /// The same race with a call that times out: F's call charges but answers unknown, and F's
    /// `replay unknown` is refused (E holds the payment). The payment is `resolving` all the same
    /// (since F's `send`), with its lookup due: once E lets go, the retry worker finds the charge.
    @Test func aStaleReplaysUnknownAnswerIsLookedUp() {
        let run = LifecycleModel.run(Scenario(
            config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
            steps: [
                Step(kind: .deliverOrder, dice: 2), Step(kind: .advance),  // exhausted → failed
                Step(kind: .replay, actor: 1),  // operator F claims the payment
                Step(kind: .advance),  // F's lookup: not paid
                Step(kind: .advance, dice: 3),  // F's send → resolving; call 2: charged, answer unknown
                Step(kind: .lapse),  // F's lease lapses
                Step(kind: .replay, actor: 0),  // operator E takes the payment over
                Step(kind: .advance, actor: 0, dice: 2),  // E's lookup: unknown
                Step(kind: .advance, actor: 1),  // F: replay unknown refused
                Step(kind: .advance, actor: 0),  // E: not confirmed, lease released
            ]))
        #expect(run.staleReplayAnswers == ["unknown"] && !run.applied.contains(PaymentLifecycle.replayUnknown), "\(run.narrative)")
        #expect(run.applied.contains(PaymentLifecycle.resolvePaid), "\(run.narrative)")
        #expect(run.row?.state == .succeeded && run.results.map(\.status) == [.failed, .succeeded], "\(run.narrative)")
    }

    /// A replay's call declined, or answered retryable (it did nothing), after the replay's
    /// lookup found no charge: back to `failed` (`replay not charged`), no second result; a
    /// decline closes the dead letter, a retryable answer leaves it open.
    @Test func aReplayCallThatChargesNothingLeavesTheOrderFailed() {
        for (dice, letters) in [(1, [String]()), (2, ["retries_exhausted"])] {
            let run = LifecycleModel.run(Scenario(
                config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest),
                steps: [
                    Step(kind: .deliverOrder, dice: 2), Step(kind: .advance),  // exhausted → failed
                    Step(kind: .replay),  // operator E claims the payment
                    Step(kind: .advance),  // E's lookup: not paid
                    Step(kind: .advance, dice: dice),  // E's send → resolving; call 2: declined (1) or retryable (2)
                    Step(kind: .advance),  // E: replay not charged → failed
                ]))
            #expect(run.applied.contains(PaymentLifecycle.replayNotCharged) && run.row?.state == .failed, "\(run.narrative)")
            #expect(run.results.map(\.status) == [.failed] && run.openLetters == letters && run.row?.attempts == 2, "\(run.narrative)")
        }
    }

    // MARK: What the model still finds, each as its shortest sequence

    // Nothing at the moment. A new finding gets a `Finding` below (its runs are reported once as a
    // known issue by the properties) and a test here pinning its shortest sequence with
    // `withKnownIssue`, until it is fixed.
}

extension LifecycleModel {
    /// No charge, or the payment succeeded, or it is parked and nobody was ever told of the charge.
    var chargeEndsSucceeded: Bool {
        !channel.holdsCharge(key) || row?.state == .succeeded || (isParked && !successLearned)
    }

    /// No `failed` result was published while the channel held a charge or a call of the key
    /// was still running there.
    var failedNeverPublishedWhileCharged: Bool {
        results.allSatisfy { $0.status != .failed || !($0.channelHeldCharge || $0.callRunning) }
    }
}

// MARK: Known findings

/// A rule of the table or the store that lets a money bug through, as the properties found it.
struct Finding: Sendable {
    let title: String
    /// Whether a run that breaks the property shows this finding.
    let explains: @Sendable (LifecycleModel) -> Bool

    /// The findings the properties still show (none: the last four were fixed; see the tests above).
    static let all: [Finding] = []
}

/// The runs of one property that a known finding explains: counted, and reported once as a
/// known issue with the shortest of them. Every other run is checked as usual.
struct KnownRuns {
    let findings: [Finding]
    var counts: [String: Int] = [:]
    var shortest: [String: LifecycleModel] = [:]

    init(_ findings: [Finding]) { self.findings = findings }

    mutating func absorbs(_ run: LifecycleModel) -> Bool {
        guard let finding = findings.first(where: { $0.explains(run) }) else { return false }
        counts[finding.title, default: 0] += 1
        if let known = shortest[finding.title], known.scenario.steps.count <= run.scenario.steps.count { return true }
        shortest[finding.title] = run
        return true
    }

    func report(sourceLocation: SourceLocation = #_sourceLocation) {
        for finding in findings {
            guard let count = counts[finding.title], let run = shortest[finding.title] else { continue }
            withKnownIssue(Comment(rawValue: finding.title), isIntermittent: true) {
                Issue.record("\(finding.title): \(count) runs show it; the shortest:\n\(run.narrative)", sourceLocation: sourceLocation)
            }
        }
    }
}
