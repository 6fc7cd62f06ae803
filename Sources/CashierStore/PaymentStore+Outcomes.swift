public import CashierCore
import PostgresNIO

extension PaymentStore {
    /// Records a final outcome: the payment's terminal state, the attempt's answer and the
    /// result event in the outbox, in one statement. Returns false when the payment was already
    /// terminal (another owner settled it first); the attempt row is recorded either way.
    @discardableResult
    public func settle(_ ticket: PaymentTicket, outcome: ChannelOutcome, result: ResultEvent, traceparent: String?) async throws -> Bool {
        let state = result.status.rawValue
        let reference = result.channelReference
        let rows = try await client.query(
            """
            WITH settled AS (
                UPDATE payments
                SET state = \(state), channel_reference = \(reference), reason_code = \(result.reason?.code),
                    reason_message = \(result.reason?.message), updated_at = now(), settled_at = now(),
                    retry_due_at = NULL, lease_until = NULL, leased_by = NULL
                WHERE payment_id = \(ticket.paymentID) AND state IN ('processing', 'retry_scheduled')
                RETURNING payment_id
            ), attempt AS (
                UPDATE payment_attempts
                SET finished_at = now(), outcome = \(outcome.kind), channel_reference = \(reference),
                    error_code = \(outcome.reason?.code), error_message = \(outcome.reason?.message)
                WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(ticket.attempt)
            ), published AS (
                INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
                SELECT \(result.eventID), 'result', \(ticket.order.orderID), \(result.json()), \(traceparent) FROM settled
                ON CONFLICT (event_id) DO NOTHING
            )
            SELECT count(*)::integer FROM settled
            """, logger: logger)
        var count = 0
        for try await value in rows.decode(Int.self) { count = value }
        return count == 1
    }

    /// Hands a payment to the retry worker: state `retry_scheduled` with its due time, the
    /// attempt's answer, and the retry message in the outbox, in one statement. The due time is
    /// written here, not only when the retry worker reads the message, so when a retry starts
    /// never depends on how quickly the retry topic is delivered.
    public func scheduleRetry(_ ticket: PaymentTicket, outcome: ChannelOutcome, request: RetryRequest, traceparent: String?) async throws {
        let eventID = "retry_\(ticket.paymentID)_\(ticket.attempt)"
        try await client.query(
            """
            WITH scheduled AS (
                UPDATE payments
                SET state = 'retry_scheduled', retry_due_at = to_timestamp(\(request.dueAtMilliseconds)::bigint / 1000.0),
                    reason_code = \(request.lastError.code),
                    reason_message = \(request.lastError.message), updated_at = now()
                WHERE payment_id = \(ticket.paymentID) AND state = 'processing'
                RETURNING payment_id
            ), attempt AS (
                UPDATE payment_attempts
                SET finished_at = now(), outcome = \(outcome.kind),
                    error_code = \(outcome.reason?.code), error_message = \(outcome.reason?.message)
                WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(ticket.attempt)
            )
            INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
            SELECT \(eventID), 'retry', \(ticket.order.orderID), \(request.json()), \(traceparent) FROM scheduled
            ON CONFLICT (event_id) DO NOTHING
            """, logger: logger)
    }

    /// Records a repeated call with the same key within one attempt budget (an unknown outcome
    /// resolved by asking again): a new attempt row, so every call is visible.
    public func nextAttempt(after ticket: PaymentTicket, outcome: ChannelOutcome) async throws -> PaymentTicket {
        let next = ticket.attempt + 1
        try await client.query(
            """
            WITH finished AS (
                UPDATE payment_attempts
                SET finished_at = now(), outcome = \(outcome.kind),
                    error_code = \(outcome.reason?.code), error_message = \(outcome.reason?.message)
                WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(ticket.attempt)
            ), bumped AS (
                UPDATE payments SET attempts = \(next), updated_at = now() WHERE payment_id = \(ticket.paymentID)
            )
            INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker)
            VALUES (\(ticket.paymentID), \(next), \(ticket.idempotencyKey), \(worker))
            """, logger: logger)
        return PaymentTicket(
            paymentID: ticket.paymentID, order: ticket.order, idempotencyKey: ticket.idempotencyKey, attempt: next, resumed: ticket.resumed,
            traceparent: ticket.traceparent)
    }
}
