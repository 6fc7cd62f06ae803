/// Where a payment stands. Stored in Postgres as the raw value. Which moves are allowed is not
/// decided here but by `PaymentLifecycle`, the one table every store statement binds.
///
/// ```
///            accept                 succeed / decline
///   (new) ─────────▶ processing ─────────────────────────▶ succeeded | failed
///                      │    ▲ resume                           ▲
///        hand over /   │    │                                  │ exhaust (a definite "not charged")
///        sweep unsent  ▼    │                                  │
///                retry_scheduled ──────────────────────────────┤
///                      │  ▲                                    │ resolve paid / learn success
///   unknown answer /   ▼  │ resolve not paid                   │
///   sweep sent       resolving ────────────────────────────────┘
/// ```
/// `rejected` is not a payment state: an event that is not charged never gets a payment.
public enum PaymentState: String, Sendable, CaseIterable, Hashable {
    /// Accepted; the holder of its lease is about to call the channel, or is calling it.
    case processing
    /// Waiting for its next call, due at `retry_due_at`; a retry worker's lease marks a call in flight.
    case retryScheduled = "retry_scheduled"
    /// The channel may have charged and has not said: looked up on a schedule until it tells
    /// (DESIGN.md invariant 6). Never published as a failure.
    case resolving
    case succeeded
    case failed

    /// Terminal states have their result published; only an operator's replay leaves `failed`.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed: true
        case .processing, .retryScheduled, .resolving: false
        }
    }

    /// States in which a payment is still in progress.
    public static let open: [PaymentState] = allCases.filter { !$0.isTerminal }
}
