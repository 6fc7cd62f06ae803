/// The payment lifecycle: every way a payment may change, as one table.
///
/// Each transition names the states it may start from, the state it leads to and what it
/// emits. The store binds `from` and `to` of a transition into every statement that changes a
/// payment (`WHERE state = ANY(from)`, `SET state = to`): there are no state literals in SQL,
/// so what this table says is what the database does. The property tests of this table
/// (`PaymentLifecycleTests`) check the money rules of DESIGN.md section 1 against it.
public struct PaymentTransition: Sendable, Hashable, CustomStringConvertible {
    /// What a transition publishes, through the outbox, in the same statement.
    public enum Emission: String, Sendable, Hashable {
        /// The order's result event (its terminal state).
        case result
        /// A hand-over message on the retry topic.
        case retry
        /// A dead-letter row and its message on the dead-letter topic.
        case deadLetter
    }

    /// Who may make the write.
    public enum Guard: Sendable, Hashable {
        /// Only the holder of the payment's current lease, naming the attempt it closes.
        case holder
        /// Anyone: a claim of a payment nobody holds (or whose lease lapsed), or a fact that
        /// stands whoever learned it (a success).
        case anyone
        /// An operator, through `cashier dlq replay`.
        case operator_
    }

    public let name: String
    /// The states the payment may be in; empty for the transition that creates it.
    public let from: Set<PaymentState>
    /// The state it leads to.
    public let to: PaymentState
    public let emits: Set<Emission>
    public let guardedBy: Guard

    /// `from` as raw values, sorted: the `ANY(...)` a statement binds.
    public var fromNames: [String] { from.map(\.rawValue).sorted() }
    /// `to` as its raw value: the `SET state = ...` a statement binds.
    public var toName: String { to.rawValue }

    public func allows(_ state: PaymentState) -> Bool { from.contains(state) }

    public var description: String { name }
}

public enum PaymentLifecycle {
    public typealias T = PaymentTransition

    // MARK: The order worker

    /// A new order's payment: created with its holder's lease, no call made yet.
    public static let accept = T(name: "accept", from: [], to: .processing, emits: [], guardedBy: .anyone)
    /// A `processing` payment whose holder's lease lapsed (its process died, or a redelivery
    /// found it abandoned) is taken over; an open attempt is closed as interrupted and the next
    /// call reuses the idempotency key.
    public static let resume = T(name: "resume", from: [.processing], to: .processing, emits: [], guardedBy: .anyone)
    /// Opens the attempt row of a call about to be sent: the attempt number comes from the
    /// database. Only a call really sent is an attempt (DESIGN.md invariant 7).
    public static let sendFromProcessing = T(name: "send", from: [.processing], to: .processing, emits: [], guardedBy: .holder)
    public static let sendFromRetry = T(name: "send", from: [.retryScheduled], to: .retryScheduled, emits: [], guardedBy: .holder)
    /// The channel charged.
    public static let succeed = T(name: "succeed", from: [.processing, .retryScheduled], to: .succeeded, emits: [.result], guardedBy: .holder)
    /// The channel declined: it said no money moved.
    public static let decline = T(name: "decline", from: [.processing, .retryScheduled], to: .failed, emits: [.result], guardedBy: .holder)
    /// A retryable answer (nothing charged) with attempts left: on the retry schedule.
    public static let handOver = T(name: "hand over", from: [.processing], to: .retryScheduled, emits: [.retry], guardedBy: .holder)
    /// The channel's circuit stayed open past the wait limit, so no call was made: the payment
    /// waits on the retry schedule instead of in the worker (no attempt is counted).
    public static let deferUnsent = T(name: "defer unsent", from: [.processing], to: .retryScheduled, emits: [.retry], guardedBy: .holder)
    /// An answer that does not say whether money moved: looked up until it does.
    public static let lookUp = T(name: "look up", from: [.processing, .retryScheduled], to: .resolving, emits: [], guardedBy: .holder)

    // MARK: The retry worker

    /// The retry worker confirms a hand-over read from the retry topic (sets a due time the
    /// hand-over did not write; a stale message changes nothing).
    public static let arm = T(name: "arm", from: [.retryScheduled], to: .retryScheduled, emits: [], guardedBy: .anyone)
    /// A due retry is leased for one call.
    public static let claimRetry = T(name: "claim retry", from: [.retryScheduled], to: .retryScheduled, emits: [], guardedBy: .anyone)
    /// A retryable answer with attempts left: next due time.
    public static let reschedule = T(name: "reschedule", from: [.retryScheduled], to: .retryScheduled, emits: [], guardedBy: .holder)
    /// The last allowed call was answered "not processed" after calls that were all "not
    /// processed", or a lookup found no charge and no attempt is left: `failed`, a dead letter.
    /// Never after an unknown answer or a server error without a lookup.
    public static let exhaust = T(
        name: "exhaust", from: [.processing, .retryScheduled, .resolving], to: .failed, emits: [.result, .deadLetter], guardedBy: .holder)

    // MARK: The resolver (unknown outcomes)

    /// A due lookup is leased.
    public static let claimLookup = T(name: "claim lookup", from: [.resolving], to: .resolving, emits: [], guardedBy: .anyone)
    /// The lookup found the charge.
    public static let resolvePaid = T(name: "resolve paid", from: [.resolving], to: .succeeded, emits: [.result], guardedBy: .holder)
    /// The lookup found no charge and attempts are left: a call with the same key is safe.
    public static let resolveUnpaid = T(name: "resolve unpaid", from: [.resolving], to: .retryScheduled, emits: [], guardedBy: .holder)
    /// The channel still cannot tell: the next lookup, later.
    public static let lookUpAgain = T(name: "look up again", from: [.resolving], to: .resolving, emits: [], guardedBy: .holder)
    /// Unknown past the horizon: a dead letter (`outcome_unknown`) for a person, no result yet;
    /// lookups stop until a replay, a notification or a late answer settles it.
    public static let park = T(name: "park", from: [.resolving], to: .resolving, emits: [.deadLetter], guardedBy: .holder)

    // MARK: Facts learned out of band

    /// A success learned by anyone at any time — a genuine notification, or a writer whose
    /// lease was lost meanwhile — settles any payment still open. Never dropped (invariant 6).
    public static let learnSuccess = T(
        name: "learn success", from: [.processing, .retryScheduled, .resolving], to: .succeeded, emits: [.result], guardedBy: .anyone)
    /// A success learned for a payment already `failed` contradicts the channel's earlier
    /// "not charged": recorded and dead-lettered (`channel_contradiction`) for a person; the
    /// order's result stands, so no second terminal result is published.
    public static let contradict = T(name: "contradict", from: [.failed], to: .failed, emits: [.deadLetter], guardedBy: .anyone)

    // MARK: Recovery

    /// A `processing` payment whose lease lapsed with a call possibly sent: looked up.
    public static let sweepSent = T(name: "sweep sent", from: [.processing], to: .resolving, emits: [], guardedBy: .anyone)
    /// A `processing` payment whose lease lapsed before any call: due for a call now.
    public static let sweepUnsent = T(name: "sweep unsent", from: [.processing], to: .retryScheduled, emits: [], guardedBy: .anyone)

    // MARK: The operator

    /// A replay is leased: a dead-lettered `failed` payment, or a parked `resolving` one.
    public static let claimReplayFailed = T(name: "claim replay", from: [.failed], to: .failed, emits: [], guardedBy: .operator_)
    public static let claimReplayParked = T(name: "claim replay", from: [.resolving], to: .resolving, emits: [], guardedBy: .operator_)
    /// A replay of a `failed` payment found no charge: its one call, with the same key. From the
    /// moment the call may leave, money may move, so the payment is `resolving` — held by the
    /// replay's lease, with a lookup due as soon as that lease lapses — not `failed`: a replay
    /// that dies before it records the answer, or whose lease is taken over, leaves a payment
    /// the retry worker looks up (and a notification settles), never a charged one `failed`.
    public static let sendFromReplay = T(name: "send", from: [.failed], to: .resolving, emits: [], guardedBy: .operator_)
    /// A replay found or made the charge: the one way out of a terminal state, with a new
    /// result event (a new event id) and an audit row.
    public static let replaySucceed = T(name: "replay succeed", from: [.failed, .resolving], to: .succeeded, emits: [.result], guardedBy: .operator_)
    /// A replay's one call answered "unknown": the money may have moved after all, so the
    /// payment stays `resolving` and is looked up like any unknown outcome, from now.
    public static let replayUnknown = T(name: "replay unknown", from: [.resolving], to: .resolving, emits: [], guardedBy: .operator_)
    /// A replay's one call answered "not charged" — declined, or "not processed" (the call did
    /// nothing; a server error is not that) — after the replay's own lookup had found no charge: back to `failed`. The
    /// order's `failed` result, published before the replay sent its call, stands: no second
    /// result. Only the replay that sent the call may make it (its lease, its attempt).
    public static let replayNotCharged = T(name: "replay not charged", from: [.resolving], to: .failed, emits: [], guardedBy: .operator_)
    /// A replay of a parked payment found no charge: back on the retry schedule.
    public static let replayUnpaid = T(name: "replay unpaid", from: [.resolving], to: .retryScheduled, emits: [], guardedBy: .operator_)

    /// Every transition, for the tests and for `cashier` to print.
    public static let all: [T] = [
        accept, resume, sendFromProcessing, sendFromRetry, succeed, decline, handOver, deferUnsent, lookUp, arm, claimRetry, reschedule,
        exhaust, claimLookup, resolvePaid, resolveUnpaid, lookUpAgain, park, learnSuccess, contradict, sweepSent, sweepUnsent,
        claimReplayFailed, claimReplayParked, sendFromReplay, replaySucceed, replayUnknown, replayNotCharged, replayUnpaid,
    ]

    /// The transition a success learned out of band takes from `state`: nothing when the
    /// payment already succeeded.
    public static func onLearnedSuccess(from state: PaymentState) -> T? {
        if learnSuccess.allows(state) { return learnSuccess }
        if contradict.allows(state) { return contradict }
        return nil
    }
}
