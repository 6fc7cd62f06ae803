public import CashierCore
import PostgresNIO

/// The retry schedule. It lives in Postgres, not in memory: `retry_due_at` is written with the
/// failure that caused it (and confirmed by the retry worker when it reads the retry topic),
/// and due payments are claimed in due-time order with `FOR UPDATE SKIP LOCKED`, so any number
/// of retry workers share the work and a payment that is not yet due never holds back one that is.
extension PaymentStore {
    /// Puts the payments named by a batch of retry messages on the schedule, unless they are
    /// already there (the usual case: the hand-over wrote the due time) — one statement per
    /// batch. Covers payments handed over without one, by an earlier Cashier or by hand.
    /// Idempotent: a repeated or stale message (the payment moved on since) changes nothing.
    /// Returns the due times it set, in milliseconds since the epoch.
    @discardableResult
    public func arm(_ requests: [RetryRequest]) async throws -> [Int64] {
        guard !requests.isEmpty else { return [] }
        let rows = try await client.query(
            """
            UPDATE payments p
            SET retry_due_at = to_timestamp(r.due_ms / 1000.0), updated_at = now()
            FROM unnest(\(requests.map(\.paymentID))::text[], \(requests.map { Int64($0.attempts) })::bigint[],
                        \(requests.map(\.dueAtMilliseconds))::bigint[]) AS r(payment_id, attempts, due_ms)
            WHERE p.payment_id = r.payment_id AND p.state = 'retry_scheduled' AND p.attempts = r.attempts
              AND p.retry_due_at IS NULL
            RETURNING r.due_ms
            """, logger: logger)
        var armed: [Int64] = []
        for try await due in rows.decode(Int64.self) { armed.append(due) }
        return armed
    }

    /// Claims up to `limit` due payments for one call each: bumps the attempt count, opens the
    /// attempt row, and leases the payment so no other retry worker takes it meanwhile. A lease
    /// left by a process that died runs out and the payment is claimed again (its open attempt
    /// is then closed as interrupted, and the next call reuses the same idempotency key).
    public func claimDueRetries(limit: Int, lease: Duration) async throws -> [PaymentTicket] {
        let rows = try await client.query(
            """
            WITH due AS (
                SELECT payment_id FROM payments
                WHERE state = 'retry_scheduled' AND retry_due_at <= now()
                  AND (lease_until IS NULL OR lease_until < now())
                ORDER BY retry_due_at
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE payments p
                SET attempts = p.attempts + 1, updated_at = now(), leased_by = \(worker),
                    lease_until = now() + make_interval(secs => \(lease.wholeMilliseconds)::bigint / 1000.0)
                FROM due WHERE p.payment_id = due.payment_id
                RETURNING p.payment_id, p.order_id, p.attempts, p.idempotency_key, p.traceparent
            ), interrupted AS (
                UPDATE payment_attempts a SET finished_at = now(), outcome = 'interrupted'
                FROM claimed c WHERE a.payment_id = c.payment_id AND a.finished_at IS NULL
            ), opened AS (
                INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker)
                SELECT payment_id, attempts, idempotency_key, \(worker) FROM claimed
            )
            SELECT c.payment_id, c.attempts, c.idempotency_key, c.traceparent,
                   o.event_id, o.order_id, o.user_id, o.item_id, o.price, o.currency, o.discount, o.channel,
                   o.payment_method, o.created_at
            FROM claimed c JOIN orders o USING (order_id)
            """, logger: logger)
        var tickets: [PaymentTicket] = []
        for try await row in rows.decode(
            (String, Int, String, String?, String, String, String, String, Int64, String, String, String, String, String?).self)
        {
            let order = try Self.order(
                eventID: row.4, orderID: row.5, userID: row.6, itemID: row.7, price: row.8, currency: row.9, discount: row.10,
                channel: row.11, paymentMethod: row.12, createdAt: row.13)
            tickets.append(PaymentTicket(paymentID: row.0, order: order, idempotencyKey: row.2, attempt: row.1, resumed: false, traceparent: row.3))
        }
        return tickets
    }

    /// Records a failed retry and puts the payment back on the schedule with its next due time.
    public func reschedule(_ ticket: PaymentTicket, outcome: ChannelOutcome, dueAtMilliseconds: Int64) async throws {
        try await client.query(
            """
            WITH rescheduled AS (
                UPDATE payments
                SET retry_due_at = to_timestamp(\(dueAtMilliseconds)::bigint / 1000.0), lease_until = NULL, leased_by = NULL,
                    reason_code = \(outcome.reason?.code), reason_message = \(outcome.reason?.message), updated_at = now()
                WHERE payment_id = \(ticket.paymentID) AND state = 'retry_scheduled' AND attempts = \(ticket.attempt)
            )
            UPDATE payment_attempts
            SET finished_at = now(), outcome = \(outcome.kind),
                error_code = \(outcome.reason?.code), error_message = \(outcome.reason?.message)
            WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(ticket.attempt)
            """, logger: logger)
    }

    /// The last attempt failed: the payment is `failed` (reason `retries_exhausted`), its
    /// result goes to the outbox, and a dead letter with provenance (the order event's topic,
    /// partition and offset) is opened — or reopened, after a replay that failed again — and
    /// announced on the dead-letter topic. One statement, so all of it or none.
    @discardableResult
    public func exhaust(_ ticket: PaymentTicket, outcome: ChannelOutcome, result: ResultEvent, traceparent: String?) async throws -> Bool {
        let reason = result.reason ?? Reason(code: "retries_exhausted", message: "retries exhausted")
        let lastError = outcome.reason ?? reason
        let dlqEventID = "dlq_\(ticket.paymentID)_\(ticket.attempt)"
        let order = ticket.order
        let rows = try await client.query(
            """
            WITH settled AS (
                UPDATE payments
                SET state = 'failed', reason_code = \(reason.code), reason_message = \(reason.message), updated_at = now(),
                    settled_at = now(), retry_due_at = NULL, lease_until = NULL, leased_by = NULL
                WHERE payment_id = \(ticket.paymentID) AND state IN ('processing', 'retry_scheduled')
                RETURNING payment_id
            ), attempt AS (
                UPDATE payment_attempts
                SET finished_at = now(), outcome = \(outcome.kind),
                    error_code = \(lastError.code), error_message = \(lastError.message)
                WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(ticket.attempt)
            ), published AS (
                INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
                SELECT \(result.eventID), 'result', \(order.orderID), \(result.json()), \(traceparent) FROM settled
                ON CONFLICT (event_id) DO NOTHING
            ), letter AS (
                INSERT INTO dead_letters (order_id, payment_id, channel, reason_code, reason_message, attempts, payload,
                                          source_topic, source_partition, source_offset, source_digest)
                SELECT o.order_id, \(ticket.paymentID), o.channel, \(reason.code), \(reason.message), \(ticket.attempt),
                       \(order.json()), o.source_topic, o.source_partition, o.source_offset, o.source_digest
                FROM settled JOIN orders o ON o.order_id = \(order.orderID)
                ON CONFLICT (source_topic, source_partition, source_offset, source_digest, reason_code)
                DO UPDATE SET status = 'open', attempts = EXCLUDED.attempts, reason_message = EXCLUDED.reason_message,
                              updated_at = now()
                RETURNING id, source_topic, source_partition, source_offset
            ), announced AS (
                INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
                SELECT \(dlqEventID), 'dlq', \(order.orderID),
                       json_build_object('dead_letter_id', id, 'order_id', \(order.orderID)::text,
                           'payment_id', \(ticket.paymentID)::text, 'channel', \(order.channel.rawValue)::text,
                           'attempts', \(ticket.attempt)::integer,
                           'reason', json_build_object('code', \(reason.code)::text, 'message', \(reason.message)::text),
                           'last_error', json_build_object('code', \(lastError.code)::text, 'message', \(lastError.message)::text),
                           'source', json_build_object('topic', source_topic, 'partition', source_partition, 'offset', source_offset),
                           'event', \(order.json())::json)::text,
                       \(traceparent)
                FROM letter
                ON CONFLICT (event_id) DO NOTHING
            )
            SELECT count(*)::integer FROM settled
            """, logger: logger)
        var count = 0
        for try await value in rows.decode(Int.self) { count = value }
        return count == 1
    }

    /// Keeps a message the retry worker cannot read (no payment can be identified from it) as
    /// a dead letter, so its offset can move on and an operator sees it.
    public func deadLetterUnreadable(_ payload: [UInt8], origin: EventOrigin, reason: Reason) async throws {
        let text = String(decoding: payload.prefix(OrderCreated.maxEventBytes), as: UTF8.self)
        try await client.query(
            """
            WITH letter AS (
                INSERT INTO dead_letters (reason_code, reason_message, payload, source_topic, source_partition, source_offset, source_digest)
                VALUES (\(reason.code), \(reason.message), \(text), \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            INSERT INTO outbox (event_id, kind, message_key, payload)
            SELECT \(PaymentIdentity.deadLetterEventID(origin)), 'dlq', \(PaymentIdentity.deadLetterEventID(origin)),
                   json_build_object('dead_letter_id', id, 'order_id', NULL,
                       'reason', json_build_object('code', \(reason.code)::text, 'message', \(reason.message)::text),
                       'source', json_build_object('topic', \(origin.topic)::text, 'partition', \(origin.partition)::integer,
                                                   'offset', \(origin.offset)::bigint))::text
            FROM letter
            ON CONFLICT (event_id) DO NOTHING
            """, logger: logger)
    }

    /// Rebuilds an accepted order from its row (the row was validated when it was accepted).
    static func order(
        eventID: String, orderID: String, userID: String, itemID: String, price: Int64, currency: String, discount: String,
        channel: String, paymentMethod: String, createdAt: String?
    ) throws -> OrderCreated {
        guard let currency = Currency(code: currency), let channel = Channel(rawValue: channel),
            let discount = try? DiscountRatio(parsing: discount)
        else {
            throw StoreError(.invariant, "order \(orderID) has a stored currency, channel or discount this build does not know")
        }
        return OrderCreated(
            eventID: eventID, orderID: orderID, userID: userID, itemID: itemID, price: price, currency: currency,
            discount: discount, channel: channel, paymentMethod: paymentMethod, createdAt: createdAt)
    }
}
