import CashierCore

/// SQL fragments about a payment's attempts, written once for every statement that needs them.
enum AttemptSQL {
    /// How many of the payment named by `paymentColumn` (e.g. `p.payment_id`) were tries whose
    /// charge never left (`not_sent`): they are no calls (DESIGN.md invariant 7), so results,
    /// letters and the retry policy subtract them from `payments.attempts`.
    static func notSentCount(of paymentColumn: String) -> String {
        """
        (SELECT count(*)::integer FROM payment_attempts a_unsent
         WHERE a_unsent.payment_id = \(paymentColumn) AND a_unsent.outcome = '\(ChannelOutcome.notSentKind)')
        """
    }

    /// Whether the payment named by `paymentColumn` has an attempt still open: a call that may
    /// have left, whose answer was never recorded.
    static func hasOpenAttempt(of paymentColumn: String) -> String {
        """
        EXISTS (SELECT 1 FROM payment_attempts a_open WHERE a_open.payment_id = \(paymentColumn) AND a_open.finished_at IS NULL)
        """
    }
}
