import CashierCore

// A pure, in-memory model of one payment driven by the `PaymentLifecycle` table, for the
// property tests in `PaymentLifecycleTests`. Every change of the payment row goes through
// `LifecycleModel.apply`, which asks the table whether the transition starts from the row's
// state (`allows`), whether the writer may make it (`guardedBy`), where it leads (`to`) and what
// it publishes (`emits`). What the actors decide (which transition to ask for after which
// answer) follows PaymentCharger, PaymentResolver and DeadLetterReplayer; the extra conditions
// of the store's statements (a lapsed lease for a take-over, a due time for a claim, an open
// attempt row for the sweeper) follow PaymentStore.
//
// Not modelled: time (a due time is due whenever someone looks; the lookup horizon is a roll of
// the dice; the settle window of a lookup's "no charge" is "no call of the key was still
// running at the channel when the lookup was made", see `ModelChannel.running`), lease renewals
// (a lapse is for good unless the holder's next call refreshes it), a crash between the attempt
// row's commit and the request leaving the process (the call follows its attempt in the same
// step), several orders, storage errors, and the outbox relay and Kafka offsets (a result in the
// outbox counts as published).

// MARK: The payment row and what was published

struct Lease: Sendable, Equatable {
    var token: Int
    /// Its `lease_until` has passed: anyone may take the payment over.
    var lapsed = false
}

struct PaymentRow: Sendable {
    var state: PaymentState
    var attempts = 0
    var lease: Lease?
    var reference: String?
    /// `retry_due_at` is set (the model has no clock: anything set is due at some point).
    var due = false
    /// Attempt rows whose `finished_at` is null.
    var openAttempts: Set<Int> = []
    /// Attempt rows closed without an answer that says whether money moved: outcome `unknown`,
    /// or `interrupted` (a take-over, a claim or the sweeper closed them).
    var ambiguousAttempts: Set<Int> = []

    var isFree: Bool { lease == nil || lease?.lapsed == true }

    /// PaymentStore.hadAmbiguousCall(before:): an earlier attempt ended unknown or interrupted, or is still open.
    func hadAmbiguousCall(before attempt: Int) -> Bool {
        openAttempts.union(ambiguousAttempts).contains { $0 < attempt }
    }

    /// Closes attempt row `attempt` with an answer (the statements' `finished_at IS NULL OR
    /// outcome = 'interrupted'`: a late answer replaces `interrupted`).
    mutating func close(_ attempt: Int, ambiguous: Bool) {
        openAttempts.remove(attempt)
        if ambiguous { ambiguousAttempts.insert(attempt) } else { ambiguousAttempts.remove(attempt) }
    }

    /// The open attempt rows closed as `interrupted`.
    mutating func interrupt() {
        ambiguousAttempts.formUnion(openAttempts)
        openAttempts.removeAll()
    }
}

struct PublishedResult: Sendable, Equatable {
    var eventID: String
    var status: PaymentState
    var reference: String?
    var transition: String
    /// Whether an operator's replay had taken the payment out of `failed` before this was
    /// published (`replay succeed`, or `replay unknown` and then a lookup or a notification).
    var afterReplay: Bool
    /// Whether the model channel held a charge for the payment when this was published.
    var channelHeldCharge: Bool
    /// Whether a call of the key was still running at the channel (it may yet charge).
    var callRunning: Bool
}

/// A payment held by an actor: what its next write names.
struct Ticket: Sendable {
    var lease: Int
    var attempt: Int
    var state: PaymentState
    /// The order worker's breaker refused the call before the payment was accepted or resumed
    /// (OrderProcessor: `charger.refused`): it is deferred without a call.
    var refused = false
}

struct ReplayClaim: Sendable {
    var letter: String
    var lease: Int
    var attempts: Int
    var state: PaymentState
}

/// What an actor is in the middle of; `idle` is also what a crash leaves.
enum Program: Sendable {
    case idle
    /// Holds a payment and is about to call (PaymentCharger.charge), or to defer it unsent.
    case holding(Ticket)
    /// Called; the channel's answer is not recorded yet (a late answer, if the actor waits).
    case answered(Ticket, ChannelOutcome)
    case lookingUp(Ticket)
    /// The resolver's lookup answered; `whileRunning`: a call was still running at the channel
    /// when it looked.
    case lookedUp(Ticket, PaymentLookup, whileRunning: Bool)
    case replaying(ReplayClaim)
    case replayLookedUp(ReplayClaim, PaymentLookup)
    case replayAnswered(ReplayClaim, Ticket, ChannelOutcome)

    var isIdle: Bool { if case .idle = self { true } else { false } }
}

/// Who makes a write, as the store's statement names it.
struct Writer: Sendable {
    var name: String
    var lease: Int? = nil
    var attempt: Int? = nil
    var isOperator = false
}

enum LeaseChange {
    case keep, clear, take, refresh
}

// MARK: The model

struct LifecycleModel: Sendable {
    static let orderID = "ord_model"
    static let actorNames = ["worker A", "worker B", "retry worker C", "retry worker D", "operator E", "operator F"]
    static let orderWorkers = 0...1
    static let retryWorkers = 2...3
    static let operators = 4...5

    let config: ModelConfig
    let policy: RetryPolicy
    let paymentID = PaymentIdentity.paymentID(orderID: orderID)
    /// The key every call names: the order's own, as the store keeps it in the payment row.
    let key = PaymentIdentity.idempotencyKey(orderID: orderID)

    var row: PaymentRow?
    var channel: ModelChannel
    var actors: [Program] = Array(repeating: .idle, count: actorNames.count)
    var results: [PublishedResult] = []
    /// Result inserts the outbox dropped (same event id) whose content differed from the stored one.
    var conflictingResults: [PublishedResult] = []
    var retryMessages: [Int] = []
    /// Dead letters by reason code: open or not.
    var letters: [String: Bool] = [:]
    var nextLease = 1
    /// Replays the breaker refused before they opened an attempt (DeadLetterReplayer: `admit` first).
    var replaysRefusedByTheBreaker = 0
    /// Whether the channel's charge was made by an operator's replay call.
    var chargedByReplay = false
    /// Replay writes refused because another replay had taken the payment over, by what the
    /// stale replay had learned: `succeeded`, `unknown`, ... (DeadLetterStore.finishReplay's `applied`).
    var staleReplayAnswers: Set<String> = []
    /// Whether the channel answered a call `notProcessed` or `retryable` while it held (or had just
    /// made) a charge for the key.
    var retryableWhileCharged = false
    /// Whether a lookup found no charge while a call of the key was still running at the channel.
    var notPaidWhileRunning = false
    /// Whether an operator's replay died (or was killed) holding the answer of its call.
    var replayDiedAfterItsCall = false
    /// Every transition the run made.
    var applied: Set<PaymentTransition> = []
    /// Whether an operator's replay took the payment out of `failed`.
    var leftFailedByReplay = false
    /// Whether anyone was told of a charge: a success answer, a paid lookup, a notification.
    var successLearned = false
    var scenario = Scenario(config: ModelConfig(maxAttempts: 1, notifies: false, channel: .honest), steps: [])
    var tracing = true
    var trace: [String] = []
    var drainSettled = false
    /// Transitions the table allowed whose result did not lead to a terminal state (a model bug).
    var modelErrors: [String] = []

    init(_ config: ModelConfig) {
        self.config = config
        self.policy = RetryPolicy(baseMilliseconds: 1000, factor: 2, maxMilliseconds: 300_000, maxAttempts: config.maxAttempts)
        self.channel = ModelChannel(behaviour: config.channel)
    }

    /// Runs the scenario's steps, then drains: a call still running at the channel finishes,
    /// every actor finishes, leases lapse, the sweeper, the retry worker and the resolver run (and
    /// notifications arrive) until nothing moves.
    ///
    /// Without `tracing` the run keeps no trace (it is what takes the time); `narrative` runs the
    /// scenario again with one.
    static func run(_ scenario: Scenario, tracing: Bool = false) -> LifecycleModel {
        var model = LifecycleModel(scenario.config)
        model.scenario = scenario
        model.tracing = tracing
        for (index, step) in scenario.steps.enumerated() {
            model.note("\(index + 1). \(step)", indented: false)
            model.perform(step)
        }
        model.note("drain", indented: false)
        model.drain()
        return model
    }

    /// What happened, step by step, and how it ended.
    var narrative: String {
        guard tracing else { return Self.run(scenario, tracing: true).narrative }
        let payment = row.map { "\($0.state.rawValue), attempts \($0.attempts)" } ?? "no payment"
        let end = "end: \(payment), channel calls \(callsReceived), charged \(channel.holdsCharge(key)), "
            + "results \(results.map(\.status.rawValue)), open dead letters \(openLetters)"
        return (trace + [end]).joined(separator: "\n")
    }

    var callsReceived: Int { channel.calls.values.reduce(0, +) }

    /// Parked: `resolving` with no lookup due and a dead letter `outcome_unknown` for a person.
    var isParked: Bool { row?.state == .resolving && row?.due == false && letters["outcome_unknown"] == true }
    var openLetters: [String] { letters.filter(\.value).keys.sorted() }

    mutating func note(_ line: @autoclosure () -> String, indented: Bool = true) {
        if tracing { trace.append((indented ? "   " : "") + line()) }
    }

    // MARK: The one way the row changes

    /// Makes transition `t` if the table allows it from the row's state and its guard admits
    /// `writer`; `condition` is the rest of the store's `WHERE` (for `.anyone` transitions).
    /// Returns false, changing nothing, when refused.
    @discardableResult
    mutating func apply(
        _ t: PaymentTransition, by writer: Writer, lease leaseChange: LeaseChange, due: Bool?, reference: String? = nil,
        deadLetter: String? = nil, condition: Bool = true, sends: Bool = false, interrupts: Bool = false
    ) -> Bool {
        precondition(t.emits.contains(.deadLetter) == (deadLetter != nil), "\(t) emits \(t.emits)")
        if t.from.isEmpty {
            guard row == nil else { return refuse(t, writer, "the payment exists") }
            row = PaymentRow(state: t.to)
        } else {
            guard let row, t.allows(row.state) else {
                let state = self.row?.state.rawValue ?? "none"
                return refuse(t, writer, "state \(state)")
            }
            switch t.guardedBy {
            case .holder:
                guard let lease = writer.lease, row.lease?.token == lease, writer.attempt == row.attempts else {
                    return refuse(t, writer, "not the holder of attempt \(row.attempts)")
                }
            case .operator_:
                precondition(writer.isOperator, "\(writer.name) makes the operator's \(t)")
                if let lease = writer.lease {
                    guard row.lease?.token == lease, writer.attempt.map({ $0 == row.attempts }) ?? true else {
                        return refuse(t, writer, "the replay's lease is gone")
                    }
                } else {
                    guard row.isFree else { return refuse(t, writer, "another process holds it") }
                }
            case .anyone:
                guard condition else { return refuse(t, writer, "the statement's condition is false") }
            }
        }
        var changed = row!
        changed.state = t.to
        if let reference { changed.reference = reference }
        if let due { changed.due = due }
        if interrupts { changed.interrupt() }
        if sends {
            changed.attempts += 1
            changed.openAttempts.insert(changed.attempts)
        }
        switch leaseChange {
        case .keep: break
        case .clear: changed.lease = nil
        case .refresh: changed.lease?.lapsed = false
        case .take:
            changed.lease = Lease(token: nextLease)
            nextLease += 1
        }
        if t.guardedBy == .operator_, t.allows(.failed), row!.state == .failed, t.to != .failed { leftFailedByReplay = true }
        row = changed
        applied.insert(t)
        if t.emits.contains(.result) { publish(t, changed) }
        if t.emits.contains(.retry) { retryMessages.append(changed.attempts) }
        if let deadLetter { letters[deadLetter] = true }
        note("\(writer.name): \(t.name) → \(t.to.rawValue)" + (sends ? " (attempt \(changed.attempts))" : "")
            + (t.emits.isEmpty ? "" : " emits \(t.emits.map(\.rawValue).sorted())") + (deadLetter.map { " \($0)" } ?? ""))
        return true
    }

    private mutating func refuse(_ t: PaymentTransition, _ writer: Writer, _ why: @autoclosure () -> String) -> Bool {
        let because = tracing ? why() : ""
        note("\(writer.name): \(t.name) refused (\(because))")
        return false
    }

    private mutating func publish(_ t: PaymentTransition, _ row: PaymentRow) {
        guard row.state.isTerminal else {
            modelErrors.append("\(t) emits a result but leads to \(row.state.rawValue)")
            return
        }
        let result = PublishedResult(
            eventID: PaymentIdentity.resultEventID(paymentID: paymentID, status: row.state.rawValue), status: row.state,
            reference: row.state == .succeeded ? row.reference : nil, transition: t.name, afterReplay: leftFailedByReplay,
            channelHeldCharge: channel.holdsCharge(key), callRunning: channel.running)
        // The outbox keeps the first row of an event id (`ON CONFLICT (event_id) DO NOTHING`).
        if let existing = results.first(where: { $0.eventID == result.eventID }) {
            if existing.status != result.status || existing.reference != result.reference { conflictingResults.append(result) }
            return
        }
        results.append(result)
    }

    // MARK: Steps

    mutating func perform(_ step: Step) {
        switch step.kind {
        case .advance:
            if let actor = busyActor(step.actor) { advance(actor, dice: step.dice) }
        case .deliverOrder: deliverOrder(to: Self.orderWorkers.lowerBound + step.actor % Self.orderWorkers.count, dice: step.dice)
        case .claim: claim(Self.retryWorkers.lowerBound + step.actor % Self.retryWorkers.count)
        case .sweep: sweep()
        case .lapse:
            if row?.lease != nil, row?.lease?.lapsed == false {
                row?.lease?.lapsed = true
                let token = row!.lease!.token
                note("lease \(token) lapsed")
            }
        case .crash:
            if let actor = busyActor(step.actor) {
                if case .replayAnswered = actors[actor] { replayDiedAfterItsCall = true }
                actors[actor] = .idle
                note("\(Self.actorNames[actor]) crashed and forgot what it was doing")
            }
        case .notify: notify(dice: step.dice)
        case .arm: arm(dice: step.dice)
        case .replay: beginReplay(Self.operators.lowerBound + step.actor % Self.operators.count, dice: step.dice)
        case .land: land(dice: step.dice)
        }
    }

    /// The call still running at the channel finishes there (the model's settle window passes).
    mutating func land(dice: Int) {
        guard channel.running else { return }
        channel.land(key, dice: dice)
        let charged = channel.holdsCharge(key)
        note("the call still running at the channel finished (charged: \(charged))")
    }

    /// The `index`-th actor (cyclically) among those in the middle of something.
    func busyActor(_ index: Int) -> Int? {
        let busy = actors.indices.filter { !actors[$0].isIdle }
        return busy.isEmpty ? nil : busy[index % busy.count]
    }

    mutating func advance(_ actor: Int, dice: Int) {
        switch actors[actor] {
        case .idle: break
        case .holding(let ticket): charge(actor, ticket, dice: dice)
        case .answered(let ticket, let outcome):
            actors[actor] = .idle
            record(actor, ticket, outcome)
        case .lookingUp(let ticket):
            let running = channel.running
            let lookup = lookUp(actor, dice: dice)
            actors[actor] = .lookedUp(ticket, lookup, whileRunning: running)
        case .lookedUp(let ticket, let lookup, let whileRunning):
            actors[actor] = .idle
            resolve(actor, ticket, lookup, lookedWhileRunning: whileRunning, dice: dice)
        case .replaying(let claim):
            let lookup = lookUp(actor, dice: dice)
            actors[actor] = .replayLookedUp(claim, lookup)
        case .replayLookedUp(let claim, let lookup):
            actors[actor] = .idle
            continueReplay(actor, claim, lookup, dice: dice)
        case .replayAnswered(let claim, let ticket, let outcome):
            actors[actor] = .idle
            finishReplay(actor, claim, ticket, outcome)
        }
    }

    mutating func lookUp(_ actor: Int, dice: Int) -> PaymentLookup {
        let lookup = channel.lookup(key, dice: dice)
        let running = channel.running
        if case .notPaid = lookup, running { notPaidWhileRunning = true }
        note("\(Self.actorNames[actor]) looked up: \(lookup)" + (running ? " (a call is still running at the channel)" : ""))
        return lookup
    }

    // MARK: Draining

    /// Whether nothing can move any more: every actor idle, nothing to sweep, claim, deliver or arm.
    var isQuiescent: Bool {
        guard actors.allSatisfy(\.isIdle), !channel.running, let row else { return false }
        if PaymentLifecycle.sweepSent.allows(row.state) { return false }
        if PaymentLifecycle.claimLookup.allows(row.state) || PaymentLifecycle.claimRetry.allows(row.state), row.due { return false }
        if config.notifies, !channel.notifications.isEmpty { return false }
        return retryMessages.isEmpty
    }

    /// The drain's dice are a fixed sequence: what it does depends on the state alone, so a
    /// failing scenario shrinks to the steps that matter.
    mutating func drain() {
        channel.recovered = true
        var dice: UInt64 = 17
        func roll() -> Int {
            dice = dice &* 6364136223846793005 &+ 1442695040888963407
            return Int((dice >> 33) % 100)
        }
        for _ in 0..<200 {
            if isQuiescent {
                drainSettled = true
                return
            }
            // Time passes: a call still running at the channel finishes.
            if channel.running { land(dice: roll()) }
            for actor in actors.indices where !actors[actor].isIdle { advance(actor, dice: roll()) }
            guard actors.allSatisfy(\.isIdle) else { continue }
            // The order event is on the topic until its offset is committed: it is delivered.
            if row == nil {
                deliverOrder(to: Self.orderWorkers.lowerBound, dice: roll())
                continue
            }
            // Nobody is left to renew a lease: every one lapses.
            row?.lease?.lapsed = true
            sweep()
            claim(Self.retryWorkers.lowerBound)
            while config.notifies, !channel.notifications.isEmpty { notify(dice: 0) }
            while !retryMessages.isEmpty { arm(dice: 0) }
        }
    }
}
