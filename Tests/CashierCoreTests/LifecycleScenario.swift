// The scenarios `LifecycleModel` runs: what Gen generates for `PaymentLifecycleTests`.


/// How the model channel answers (it always keeps Stripe-like idempotency: one key, at most one
/// charge).
enum ChannelBehaviour: String, Sendable {
    /// A key with a saved outcome answers with it, or times out (`unknown`); a retryable answer
    /// comes only while nothing is saved for the key; a lookup tells the truth, or `unknown`.
    case honest
    /// As honest, but a connection-level retryable answer (connection refused, a 429 from the
    /// rate limiter in front of the idempotency layer, a 503 from a proxy) may come for any call,
    /// whatever the key holds: it says "this call did nothing", not "nothing was charged".
    case retryableAnyCall
    /// As honest, but any call may be answered with a server error (5xx, `retryable`), and one
    /// that found nothing saved may have charged before it failed: a 5xx does not say whether
    /// money moved.
    case serverErrors
    /// A channel that contradicts itself: it may decline a call it charged, and a lookup may miss
    /// a charge.
    case contradicting
}

struct ModelConfig: Sendable, CustomStringConvertible {
    var maxAttempts: Int
    /// Whether the channel sends payment notifications after a charge (the drain delivers them).
    var notifies: Bool
    var channel: ChannelBehaviour

    var description: String { "maxAttempts \(maxAttempts), \(notifies ? "notifies" : "no notifications"), \(channel.rawValue) channel" }
}

/// One step of one actor. `dice` decides what the channel answers, whether the breaker is open,
/// whether the lookup horizon has passed, whether a message is delivered again.
struct Step: Sendable, CustomStringConvertible {
    enum Kind: String, Sendable {
        /// The actor goes on with what it is doing (its next call, answer, lookup or write).
        case advance
        /// An order worker receives the order event (the first time, or a duplicate delivery).
        case deliverOrder = "deliver"
        /// A retry worker claims a due lookup or retry.
        case claim
        case sweep
        /// The current lease lapses: its holder is stuck, partitioned or gone, and keeps no renewal.
        case lapse
        /// The actor forgets everything it was doing.
        case crash
        /// A payment notification is delivered (only after a real charge; maybe again later).
        case notify
        /// The retry intake reads a hand-over message (maybe again later).
        case arm
        /// The operator replays an open dead letter.
        case replay
        /// A call still running at the channel after our wait ended finishes there.
        case land
    }

    var kind: Kind
    var actor: Int
    var dice: Int

    /// Which kinds of steps a scenario is made of.
    enum Mix: Sendable {
        /// Every kind, weighted by how often it matters.
        case everything
        /// More crashes, lapsed leases, redeliveries and claims: take-overs of a payment mid-call.
        case takeOvers
    }

    /// The kind a roll of 0...99 stands for; a roll shrinks towards `advance`.
    static func kind(roll: Int, mix: Mix = .everything) -> Kind {
        if mix == .takeOvers {
            switch roll {
            case ..<30: return .advance
            case ..<44: return .deliverOrder
            case ..<58: return .claim
            case ..<60: return .sweep
            case ..<74: return .lapse
            case ..<88: return .crash
            case ..<91: return .notify
            case ..<94: return .land
            default: return .replay
            }
        }
        return switch roll {
        case ..<34: .advance
        case ..<41: .deliverOrder
        case ..<52: .claim
        case ..<57: .sweep
        case ..<63: .lapse
        case ..<69: .crash
        case ..<75: .notify
        case ..<77: .arm
        case ..<80: .land
        default: .replay
        }
    }

    init(kind: Kind, actor: Int = 0, dice: Int = 0) {
        self.kind = kind
        self.actor = actor
        self.dice = dice
    }

    init(roll: Int, actor: Int, dice: Int, mix: Mix = .everything) {
        self.init(kind: Self.kind(roll: roll, mix: mix), actor: actor, dice: dice)
    }

    var description: String { "\(kind.rawValue)(\(actor),\(dice))" }
}

struct Scenario: Sendable, CustomStringConvertible {
    var config: ModelConfig
    var steps: [Step]

    var description: String { "\(config): " + steps.map(\.description).joined(separator: " ") }
}
