import CashierCore

// The channel of `LifecycleModel`: Stripe-like idempotency (one key, at most one charge), and
// answers chosen by the steps' dice.


/// What the model channel holds for one idempotency key.
enum KeyRecord: Sendable, Equatable {
    case nothing
    case charged(reference: String)
    /// A decline saved for the key: a later call with it is answered with the same decline.
    case declined
}

struct ModelChannel: Sendable {
    let behaviour: ChannelBehaviour
    var saved: [String: KeyRecord] = [:]
    /// Calls received, by idempotency key.
    var calls: [String: Int] = [:]
    /// Charges made, by idempotency key.
    var charges: [String: Int] = [:]
    /// Notifications not yet acknowledged (references of real charges).
    var notifications: [String] = []
    /// After the chaos: lookups always tell, calls never time out.
    var recovered = false

    static let timeout = Reason(code: "timeout", message: "no answer within the deadline")
    static let refused = Reason(code: "connection_refused", message: "the call did not reach the channel")
    static let busy = Reason(code: "rate_limited", message: "HTTP 429")
    static let decline = Reason(code: "card_declined", message: "HTTP 402")

    func record(_ key: String) -> KeyRecord { saved[key] ?? .nothing }

    func holdsCharge(_ key: String) -> Bool {
        if case .charged = record(key) { true } else { false }
    }

    private mutating func charge(_ key: String) -> String {
        let reference = "ch_\(key.prefix(6))"
        saved[key] = .charged(reference: reference)
        charges[key, default: 0] += 1
        notifications.append(reference)
        return reference
    }

    mutating func call(_ key: String, dice: Int) -> ChannelOutcome {
        calls[key, default: 0] += 1
        if behaviour == .retryableAnyCall, (5...8).contains(dice / 10 % 10) { return .retryable(Self.refused) }
        let timesOut = !recovered && dice % 3 == 2
        switch record(key) {
        case .charged(let reference):
            return timesOut ? .unknown(Self.timeout) : .succeeded(reference: reference)
        case .declined:
            return timesOut ? .unknown(Self.timeout) : .declined(Self.decline)
        case .nothing:
            switch dice % (behaviour == .contradicting ? 7 : 6) {
            case 0: return .succeeded(reference: charge(key))
            case 1:
                saved[key] = .declined
                return .declined(Self.decline)
            case 2: return .retryable(Self.busy)
            case 3:
                _ = charge(key)
                return .unknown(Self.timeout)
            case 4: return .unknown(Self.timeout)
            case 5:
                saved[key] = .declined
                return .unknown(Self.timeout)
            default:
                _ = charge(key)
                return .declined(Self.decline)  // a lie
            }
        }
    }

    func lookup(_ key: String, dice: Int) -> PaymentLookup {
        if !recovered, dice % 3 == 2 { return .unknown(Self.timeout) }
        switch record(key) {
        case .charged(let reference):
            return behaviour == .contradicting && dice % 4 == 1 ? .notPaid : .paid(reference: reference)
        case .nothing, .declined:
            return .notPaid
        }
    }
}
