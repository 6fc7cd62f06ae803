public import CashierCore
public import Foundation

/// A dead letter: an order (or a message) the pipeline could not finish on its own.
public struct DeadLetter: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable { case open, replayed, discarded }

    public let id: Int64
    public let orderID: String?
    public let paymentID: String?
    public let channel: String?
    public let reason: Reason
    /// Channel calls made for the payment when it was dead-lettered.
    public let attempts: Int
    public let status: Status
    public let createdAt: Date
    public let updatedAt: Date
    /// Where the event that led here was read: topic, partition, offset.
    public let source: ResultEvent.Source
    /// The event as received (for conflicts and unreadable messages) or as accepted.
    public let payload: String
}

/// Which dead letters an operator means. Empty fields do not filter.
public struct DeadLetterFilter: Sendable {
    public var statuses: [DeadLetter.Status] = [.open]
    public var channel: String?
    public var reasonCode: String?
    public var since: Date?
    public var ids: [Int64]?
    public var orderIDs: [String]?

    public init() {}
}

/// A payment as `cashier dlq show` presents it.
public struct PaymentSummary: Sendable, Equatable {
    public let paymentID: String
    public let state: String
    public let amount: Int64
    public let currency: String
    public let attempts: Int
    public let idempotencyKey: String
    public let channelReference: String?
    public let reason: Reason?
}

/// One channel call, as recorded.
public struct AttemptRecord: Sendable, Equatable {
    public let number: Int
    public let worker: String
    public let startedAt: Date
    public let finishedAt: Date?
    public let outcome: String?
    public let channelReference: String?
    public let error: Reason?
}

/// One operator action on a dead letter (the audit trail).
public struct DeadLetterAction: Sendable, Equatable {
    public let id: Int64
    public let action: String
    public let actor: String
    public let reason: String
    public let outcome: String
    public let detail: String
    public let startedAt: Date
    public let finishedAt: Date?
}

/// Permission to replay one dead letter: its payment is leased to the replay, and an audit row
/// records who started it and why.
public struct ReplayClaim: Sendable, Equatable {
    public let letterID: Int64
    public let actionID: Int64
    public let actor: String
    public let paymentID: String
    public let order: OrderCreated
    public let idempotencyKey: String
    public let attempts: Int
    /// The channel's id for the charge, when an earlier answer gave one.
    public let reference: String?
    /// The replay's lease token and the state it holds the payment in (`failed`, or
    /// `resolving` for a payment parked as `outcome_unknown`).
    public let lease: String
    public let state: PaymentState
    /// How long the replay's lease lasts: its lookup and its one call, with room to record them.
    /// The call's attempt keeps it (not a worker's shorter default), so the retry worker never
    /// looks the payment up while the replay's call may still be running.
    public var leaseDuration: Duration = .seconds(30)
    /// Tries of the payment whose charge never left (`not_sent`): no calls.
    public var notSentAttempts = 0

    /// The payment as of its last call (what a lookup or a result names).
    public var ticket: PaymentTicket {
        var ticket = PaymentTicket(
            paymentID: paymentID, order: order, idempotencyKey: idempotencyKey, attempt: attempts, lease: lease, state: state,
            reference: reference)
        ticket.notSentAttempts = notSentAttempts
        return ticket
    }
}

/// What `DeadLetterStore.beginReplay` found.
public enum ReplayStart: Sendable, Equatable {
    case ready(ReplayClaim)
    /// The payment has succeeded: nothing to do. `changed` tells whether this call closed the
    /// dead letter (it was still open) or found it closed.
    case alreadySucceeded(reference: String?, changed: Bool)
    /// The dead letter is not open (replayed earlier, or discarded).
    case notOpen(DeadLetter.Status)
    /// Nothing to replay: a conflict or an unreadable message was never a charge.
    case notReplayable(String)
    /// The payment is being worked on right now (a retry or another replay).
    case busy(String)
    case notFound
}

/// How a replay ended, to be recorded.
public enum ReplayFinish: Sendable, Equatable {
    /// The channel already held a successful charge: settled without a new call.
    case foundPaid(reference: String, result: ResultEvent)
    /// The replay's call charged: the payment succeeds and `result` is published. (A success
    /// always carries its result, so no success can be taken for a decline.)
    case charged(PaymentTicket, reference: String, result: ResultEvent)
    /// The replay's call was declined for good: the order's `failed` result stands.
    case declined(PaymentTicket, Reason)
    /// The replay's call failed again (retryable or unknown): the dead letter stays open.
    case failedAgain(PaymentTicket, ChannelOutcome)
    /// The channel could not say whether the payment happened: nothing was charged.
    case unconfirmed(Reason)
    /// A parked unknown outcome turned out not charged: back on the retry schedule.
    case requeued

    /// The same finish with every text from the channel made storable (a NUL escaped).
    var storable: ReplayFinish {
        switch self {
        case .foundPaid(let reference, let result): .foundPaid(reference: StorableText.of(reference), result: result)
        case .charged(let ticket, let reference, let result): .charged(ticket, reference: StorableText.of(reference), result: result)
        case .declined(let ticket, let reason): .declined(ticket, StorableText.of(reason))
        case .failedAgain(let ticket, let outcome): .failedAgain(ticket, StorableText.of(outcome))
        case .unconfirmed(let reason): .unconfirmed(StorableText.of(reason))
        case .requeued: .requeued
        }
    }

    /// The replay's own call and what the channel answered, when it made one.
    var call: (ticket: PaymentTicket, outcome: ChannelOutcome)? {
        switch self {
        case .charged(let ticket, let reference, _): (ticket, .succeeded(reference: reference))
        case .declined(let ticket, let reason): (ticket, .declined(reason))
        case .failedAgain(let ticket, let outcome): (ticket, outcome)
        case .foundPaid, .unconfirmed, .requeued: nil
        }
    }

    /// The audit row's outcome word.
    public var word: String {
        switch self {
        case .foundPaid: "found_paid"
        case .charged: "charged"
        case .declined: "declined"
        case .failedAgain: "failed_again"
        case .unconfirmed: "not_confirmed"
        case .requeued: "requeued"
        }
    }
}
