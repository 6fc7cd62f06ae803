/// Where a payment stands. Stored in Postgres as the raw value.
///
/// ```
/// processing ──▶ succeeded | failed
///     │  ▲
///     ▼  │
/// retry_scheduled ──▶ succeeded | failed
/// ```
/// `rejected` never has a payment: it is the terminal state of an event that was not charged.
public enum PaymentState: String, Sendable, CaseIterable {
    /// A channel call is about to start or is running (a crash here is resumed with the same key).
    case processing
    /// Handed to the retry topic; the retry worker owns the next attempt.
    case retryScheduled = "retry_scheduled"
    case succeeded
    case failed
    case rejected

    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .rejected: true
        case .processing, .retryScheduled: false
        }
    }

    /// Whether moving from `self` to `next` is allowed. Terminal states never change.
    public func canMove(to next: PaymentState) -> Bool {
        switch (self, next) {
        case (.processing, .succeeded), (.processing, .failed), (.processing, .retryScheduled),
            (.processing, .processing):
            true
        case (.retryScheduled, .processing), (.retryScheduled, .succeeded), (.retryScheduled, .failed):
            true
        default:
            false
        }
    }
}
