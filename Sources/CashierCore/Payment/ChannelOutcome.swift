/// What a channel call told us, classified (DESIGN.md section 6).
public enum ChannelOutcome: Sendable, Equatable {
    /// The money moved. `reference` is the channel's id for the charge (e.g. `pi_…`).
    case succeeded(reference: String)
    /// The channel refused the charge for good (decline, insufficient funds, bad request).
    case declined(Reason)
    /// Nothing was charged and the same call may succeed later (429, 5xx, connection refused).
    case retryable(Reason)
    /// The charge may or may not have happened (timeout, ambiguous error): find out before
    /// deciding, by repeating with the same idempotency key or by a query.
    case unknown(Reason)

    /// A short name for logs, metrics and attempt rows.
    public var kind: String {
        switch self {
        case .succeeded: "succeeded"
        case .declined: "declined"
        case .retryable: "retryable"
        case .unknown: "unknown"
        }
    }

    /// The channel's id for the charge, when it succeeded.
    public var reference: String? {
        if case .succeeded(let reference) = self { reference } else { nil }
    }

    public var reason: Reason? {
        switch self {
        case .succeeded: nil
        case .declined(let reason), .retryable(let reason), .unknown(let reason): reason
        }
    }
}
