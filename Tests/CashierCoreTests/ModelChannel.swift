import CashierCore

// The channel of `LifecycleModel`: Stripe-like idempotency (one key, at most one charge), and
// answers chosen by the steps' dice. A call may still be running at the channel after our wait
// for it ended (a timeout ends our wait, not the channel's work): until it finishes, another call
// with its key is answered 409 (unknown), and a lookup finds no charge — "not yet".


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
    /// A call whose wait ended with a timeout is still running at the channel; `land` finishes it.
    var running = false

    static let timeout = Reason(code: "timeout", message: "no answer within the deadline")
    static let refused = Reason(code: "connection_refused", message: "the call did not reach the channel")
    static let busy = Reason(code: "rate_limited", message: "HTTP 429")
    static let serverError = Reason(code: "api_error", message: "HTTP 500")
    static let decline = Reason(code: "card_declined", message: "HTTP 402")
    static let inFlight = Reason(code: "idempotency_key_in_use", message: "HTTP 409: another request with this key is in flight")

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
        if behaviour == .retryableAnyCall, (5...8).contains(dice / 10 % 10) { return .notProcessed(Self.refused) }
        if behaviour == .serverErrors, (5...8).contains(dice / 10 % 10) {
            // The server failed, before or after it charged.
            if record(key) == .nothing, dice / 10 % 2 == 0 { _ = charge(key) }
            return .retryable(Self.serverError)
        }
        // Another request with this key is in flight: its outcome is not known yet.
        if running { return .unknown(Self.inFlight) }
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
            case 2: return .notProcessed(Self.busy)
            case 3:
                _ = charge(key)
                return .unknown(Self.timeout)
            case 4:
                // The request was lost on the way, or it is still running at the channel.
                if dice / 10 % 2 == 1 { running = true }
                return .unknown(Self.timeout)
            case 5:
                saved[key] = .declined
                return .unknown(Self.timeout)
            default:
                _ = charge(key)
                return .declined(Self.decline)  // a lie
            }
        }
    }

    /// The call still running at the channel finishes: it charges, or it is declined.
    mutating func land(_ key: String, dice: Int) {
        guard running else { return }
        running = false
        guard record(key) == .nothing else { return }
        if dice % 2 == 0 { _ = charge(key) } else { saved[key] = .declined }
    }

    /// What a lookup finds; nothing while the call that will charge is still running.
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
