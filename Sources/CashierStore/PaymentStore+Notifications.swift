public import CashierCore
import PostgresNIO

extension PaymentStore {
    /// Records a success learned out of band — a genuine payment notification, or the answer of
    /// a call whose writer lost its lease meanwhile — so it is never dropped (invariant 6).
    /// What it does follows `PaymentLifecycle.onLearnedSuccess`: an open payment becomes
    /// `succeeded` with its result (the same event id a query would give) and any open
    /// `outcome_unknown` dead letter is closed; a `failed` payment keeps its result and the
    /// success is dead-lettered as `channel_contradiction`; a succeeded one is left alone.
    ///
    /// A success reported on other terms than the payment's (`terms`, from a notification)
    /// changes nothing: it is `termsMismatch`, for a person.
    ///
    /// - Parameters:
    ///   - attempt: the call that learned it, whose attempt row is closed with it.
    ///   - terms: what the channel says it charged, when the caller has not compared it yet.
    public func learnSuccess(
        idempotencyKey: String, channel: CashierCore.Channel, reference: String, occurredAt: String, attempt: Int? = nil,
        terms: ReportedTerms? = nil, learnedBy: String
    ) async throws -> LearnedSuccess {
        let logger = self.logger
        let reference = StorableText.of(reference)
        return try await database.transaction { connection -> LearnedSuccess in
            // The row lock first, in a statement of its own: after waiting on a writer that
            // closes a try as not sent, a locking statement re-reads only the payment row, and
            // its count of not-sent tries would still miss that one (Read Committed).
            try await connection.query(
                """
                SELECT 1 FROM payments WHERE idempotency_key = \(idempotencyKey) AND channel = \(channel.rawValue) FOR UPDATE
                """, logger: logger)
            let rows = try await connection.query(
                """
                SELECT p.payment_id, p.state,
                       -- Calls sent: tries whose charge never left are none.
                       p.attempts - \(unescaped: AttemptSQL.notSentCount(of: "p.payment_id")),
                       o.order_id, p.amount, p.currency, p.traceparent, o.payment_method
                FROM payments p JOIN orders o USING (order_id)
                WHERE p.idempotency_key = \(idempotencyKey) AND p.channel = \(channel.rawValue)
                """, logger: logger)
            var found: (String, String, Int, String, Int64, String, String?, String)? = nil
            for try await row in rows.decode((String, String, Int, String, Int64, String, String?, String).self) { found = row }
            guard let (paymentID, stateText, attempts, orderID, amount, currency, traceparent, _) = found else { return .unknownPayment }
            guard let state = PaymentState(rawValue: stateText) else {
                throw StoreError(.invariant, "payment \(paymentID) has unknown state \(stateText)")
            }
            var mismatch: Reason? = nil
            if let terms {
                guard let ourCurrency = Currency(code: currency) else {
                    throw StoreError(.invariant, "payment \(paymentID) has unsupported currency \(currency)")
                }
                mismatch = terms.mismatch(amount: amount, currency: ourCurrency, what: "\(learnedBy) of charge \(reference)")
            }
            // On other terms, an open payment is left to its own lookups (they park it for a
            // person) and a succeeded one keeps its charge. A `failed` one cannot be looked up
            // again: money moved after its result said not, so it is a contradiction below.
            if let mismatch, state != .failed { return .termsMismatch(orderID: orderID, reason: mismatch) }
            if let attempt {
                try await connection.query(
                    """
                    UPDATE payment_attempts SET finished_at = now(), outcome = \(ChannelOutcome.succeeded(reference: reference).kind), channel_reference = \(reference)
                    WHERE payment_id = \(paymentID) AND attempt_no = \(attempt) AND (finished_at IS NULL OR outcome = 'interrupted')
                    """, logger: logger)
            }
            guard let transition = PaymentLifecycle.onLearnedSuccess(from: state) else { return .alreadySucceeded(orderID: orderID) }
            if transition == PaymentLifecycle.contradict {
                let reason = Reason(
                    code: "channel_contradiction",
                    message: "\(learnedBy) reported charge \(reference) succeeded after the channel had said this payment was not charged; the order's failed result stands"
                        + (mismatch.map { " (and on other terms: \($0.message))" } ?? ""))
                let inserted = try await DeadLetterOutbox.inserted(
                    """
                    WITH recorded AS (
                        UPDATE payments SET late_reference = \(reference), state = \(transition.toName), updated_at = now()
                        WHERE payment_id = \(paymentID) AND state = ANY(\(transition.fromNames)::text[])
                        RETURNING payment_id
                    )
                    INSERT INTO dead_letters (order_id, payment_id, channel, reason_code, reason_message, attempts, payload,
                                              source_topic, source_partition, source_offset, source_digest)
                    SELECT o.order_id, \(paymentID), o.channel, \(reason.code), \(reason.message), \(attempts), '{}',
                           o.source_topic, o.source_partition, o.source_offset, o.source_digest
                    FROM recorded JOIN orders o ON o.order_id = \(orderID)
                    ON CONFLICT (source_topic, source_partition, source_offset, source_digest, reason_code)
                    DO UPDATE SET status = 'open', reason_message = EXCLUDED.reason_message, updated_at = now()
                    RETURNING id, source_topic, source_partition, source_offset
                    """, on: connection, logger: logger)
                if let (id, source) = inserted {
                    let event = DeadLetterEvent(
                        deadLetterID: id, orderID: orderID, paymentID: paymentID, channel: channel, attempts: attempts, reason: reason,
                        source: source)
                    try await DeadLetterOutbox.announce(
                        event, eventID: "dlq_\(paymentID)_contradiction", key: orderID, traceparent: traceparent, on: connection, logger: logger)
                }
                return .contradiction(orderID: orderID)
            }
            let result = ResultEvent(
                eventID: PaymentIdentity.resultEventID(paymentID: paymentID, status: ResultEvent.Status.succeeded.rawValue), orderID: orderID,
                paymentID: paymentID, status: .succeeded, amount: amount, currency: currency, channel: channel.rawValue,
                channelReference: reference, attempts: max(attempts, 1), reason: nil, occurredAt: occurredAt)
            try await connection.query(
                """
                WITH paid AS (
                    UPDATE payments
                    SET state = \(transition.toName), channel_reference = \(reference), reason_code = NULL, reason_message = NULL,
                        settled_at = now(), updated_at = now(), retry_due_at = NULL, unknown_since = NULL,
                        lease_token = NULL, lease_until = NULL, leased_by = NULL
                    WHERE payment_id = \(paymentID) AND state = ANY(\(transition.fromNames)::text[])
                    RETURNING payment_id
                ), letters AS (
                    -- The letter names the calls sent up to now: a replay that lost its lease
                    -- during its call left the count to whoever settles the payment.
                    UPDATE dead_letters SET status = 'replayed', attempts = \(attempts), updated_at = now()
                    WHERE payment_id = \(paymentID) AND status = 'open' AND EXISTS (SELECT 1 FROM paid)
                    RETURNING id
                ), audited AS (
                    INSERT INTO dead_letter_actions (dead_letter_id, order_id, action, actor, reason, outcome, detail, finished_at)
                    SELECT id, \(orderID), 'notification', \(learnedBy), 'success learned', 'found_paid',
                           \("the channel reported that charge " + reference + " succeeded"), now()
                    FROM letters
                )
                INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
                SELECT \(result.eventID), 'result', \(orderID), \(result.json()), \(traceparent) FROM paid
                ON CONFLICT (event_id) DO NOTHING
                """, logger: logger)
            return .settled(orderID: orderID)
        }
    }
}
