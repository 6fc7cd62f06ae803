import Foundation
public import CashierCore
import PostgresNIO

/// The schedules: retries and lookups of unknown outcomes. They live in Postgres, not in
/// memory: `retry_due_at` is written with the change that caused it, and due payments are
/// claimed in due-time order with `FOR UPDATE SKIP LOCKED`, so any number of retry workers
/// share the work, a restart loses nothing, and one not yet due never holds back one that is.
extension PaymentStore {
    /// Puts the payments named by a batch of retry messages on the schedule, unless they are
    /// already there (the usual case: the hand-over wrote the due time) — one statement per
    /// batch. Idempotent: a repeated or stale message (the payment moved on) changes nothing.
    /// Returns the due times it set, in milliseconds since the epoch.
    @discardableResult
    public func arm(_ requests: [RetryRequest]) async throws -> [Int64] {
        guard !requests.isEmpty else { return [] }
        let transition = PaymentLifecycle.arm
        let rows = try await database.rows(
            """
            UPDATE payments p
            SET retry_due_at = to_timestamp(r.due_ms / 1000.0), state = \(transition.toName), updated_at = now()
            FROM unnest(\(requests.map(\.paymentID))::text[], \(requests.map { Int64($0.attempts) })::bigint[],
                        \(requests.map(\.dueAtMilliseconds))::bigint[]) AS r(payment_id, attempts, due_ms)
            WHERE p.payment_id = r.payment_id AND p.state = ANY(\(transition.fromNames)::text[]) AND p.attempts = r.attempts
              AND p.retry_due_at IS NULL
            RETURNING r.due_ms
            """)
        return try rows.map { try $0.decode(Int64.self) }
    }

    /// Claims up to `limit` due retries for one call each, under a new lease per payment. A
    /// lease left by a process that died runs out and the payment is claimed again (an open
    /// attempt is then closed as interrupted; the next call reuses the idempotency key).
    public func claimDueRetries(limit: Int) async throws -> [PaymentTicket] {
        try await claimDue(PaymentLifecycle.claimRetry, limit: limit)
    }

    /// Claims up to `limit` payments whose unknown outcome is due to be looked up.
    public func claimDueLookups(limit: Int) async throws -> [PaymentTicket] {
        try await claimDue(PaymentLifecycle.claimLookup, limit: limit)
    }

    private func claimDue(_ transition: PaymentTransition, limit: Int) async throws -> [PaymentTicket] {
        guard limit > 0 else { return [] }
        let prefix = newLease()
        let (worker, leaseSeconds, logger) = (self.worker, self.leaseSeconds, self.logger)
        let rows = try await database.transaction { connection -> [PostgresRow] in
            // The rows first, in a statement of their own. A row whose newer version committed
            // after this statement's snapshot (a replay's end, say) is locked at that version,
            // but any subquery of the same statement would still read the attempts as they were
            // before it: a call just answered would look open, its settle window already past.
            // The next statement's snapshot sees every commit made before these locks.
            let due = try await connection.query(
                """
                SELECT payment_id FROM payments
                WHERE state = ANY(\(transition.fromNames)::text[]) AND retry_due_at <= now()
                  AND (lease_until IS NULL OR lease_until < now())
                ORDER BY retry_due_at
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
                """, logger: logger
            ).collect().map { try $0.decode(String.self) }
            guard !due.isEmpty else { return [] }
            return try await connection.query(
                """
                WITH due AS (
                    SELECT unnest(\(due)::text[]) AS payment_id
                ), claimed AS (
                    UPDATE payments p
                    SET state = \(transition.toName), updated_at = now(), leased_by = \(worker),
                        lease_token = \(prefix) || ':' || p.payment_id,
                        lease_until = now() + make_interval(secs => \(leaseSeconds)),
                        -- An open attempt is closed as interrupted below: its call may have left,
                        -- so the wait without a call that started before it is over.
                        unsent_since = CASE WHEN \(unescaped: AttemptSQL.hasOpenAttempt(of: "p.payment_id")) THEN NULL ELSE p.unsent_since END
                    FROM due WHERE p.payment_id = due.payment_id AND p.state = ANY(\(transition.fromNames)::text[])
                    RETURNING p.payment_id, p.order_id, p.attempts, p.idempotency_key, p.traceparent, p.lease_token,
                              p.channel_reference, p.lookups, (extract(epoch FROM p.unknown_since) * 1000)::bigint AS unknown_since_ms,
                              (extract(epoch FROM now() - p.unsent_since) * 1000)::bigint AS unsent_for_ms
                ), interrupted AS (
                    UPDATE payment_attempts a SET finished_at = now(), outcome = 'interrupted'
                    FROM claimed c WHERE a.payment_id = c.payment_id AND a.finished_at IS NULL
                )
                SELECT c.payment_id, c.attempts, c.idempotency_key, c.traceparent, c.lease_token, c.channel_reference, c.lookups, c.unknown_since_ms,
                       (extract(epoch FROM now() - coalesce(last.finished_at, last.started_at)) * 1000)::bigint AS last_call_age_ms, last.error_code, last.error_message,
                       (SELECT count(*)::integer FROM payment_attempts a
                        WHERE a.payment_id = c.payment_id AND (a.outcome = 'interrupted' OR a.finished_at IS NULL)) AS interrupted,
                       o.event_id, o.order_id, o.user_id, o.item_id, o.price, o.currency, o.discount, o.channel,
                       o.payment_method, o.created_at, c.unsent_for_ms,
                       \(unescaped: AttemptSQL.notSentCount(of: "c.payment_id")) AS not_sent
                FROM claimed c JOIN orders o USING (order_id)
                LEFT JOIN LATERAL (
                    SELECT a.started_at, a.finished_at, a.error_code, a.error_message FROM payment_attempts a
                    WHERE a.payment_id = c.payment_id AND a.outcome IS DISTINCT FROM \(ChannelOutcome.notSentKind)
                    ORDER BY a.attempt_no DESC LIMIT 1
                ) last ON true
                """, logger: logger
            ).collect()
        }
        // The last call's age counts from its answer (its start when it has none): an Alipay or
        // WeChat Pay repeat queries first and sends its charge up to a channel timeout after the
        // attempt opened, so the settle window must not start before the charge itself did.
        // It is measured by Postgres's clock, which stamped it, and turned into
        // a time on this process's clock: the settle window never depends on two clocks agreeing.
        let claimedAt = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        // Each row on its own: one this build cannot read (an order of a currency or channel it
        // does not know, a row edited by hand) is logged and left to its lease, which lapses; it
        // must not fail the claim of the payments claimed with it, again and again.
        return rows.compactMap { row in
            do {
                let (paymentID, attempts, key, traceparent, lease, reference, lookups, unknownSince, lastCallAge, errorCode, errorMessage,
                     interrupted) =
                    try row.decode((String, Int, String, String?, String, String?, Int, Int64?, Int64?, String?, String?, Int).self)
                let order = try Self.order(from: row, startingAt: 12)
                var ticket = PaymentTicket(
                    paymentID: paymentID, order: order, idempotencyKey: key, attempt: attempts, lease: lease, state: transition.to,
                    reference: reference, lookups: lookups, unknownSinceMilliseconds: unknownSince,
                    lastCallMilliseconds: lastCallAge.map { claimedAt - max($0, 0) }, traceparent: traceparent)
                ticket.lastCallError = errorCode.map { Reason(code: $0, message: errorMessage ?? "") }
                // By Postgres's clock, as the last call's age, turned into this process's.
                let cells = row.makeRandomAccess()
                let unsentFor = try cells[22].decode(Int64?.self)
                ticket.unsentSinceMilliseconds = unsentFor.map { claimedAt - max($0, 0) }
                ticket.interruptedAttempts = interrupted
                ticket.notSentAttempts = try cells[23].decode(Int.self)
                return ticket
            } catch {
                let paymentID = (try? row.makeRandomAccess()[0].decode(String.self)) ?? "?"
                logger.error(
                    "a claimed payment cannot be read by this build; left for its lease to lapse: \(StoreError.classify(error))",
                    metadata: ["payment_id": "\(paymentID)", "transition": "\(transition)"])
                return nil
            }
        }
    }

    /// Finds payments left `processing` by a holder that is gone (its lease lapsed: a stuck
    /// task, a pod that died after its offset was committed elsewhere) and puts them back in
    /// motion without waiting for a Kafka redelivery: looked up if a call may have been sent,
    /// due for a call now otherwise. Returns how many it moved.
    @discardableResult
    public func sweep(limit: Int = 200) async throws -> Int {
        let sent = PaymentLifecycle.sweepSent
        let unsent = PaymentLifecycle.sweepUnsent
        precondition(sent.from == unsent.from)
        let rows = try await database.rows(
            """
            WITH stranded AS (
                SELECT p.payment_id,
                       \(unescaped: AttemptSQL.hasOpenAttempt(of: "p.payment_id")) AS sent
                FROM payments p
                WHERE p.state = ANY(\(sent.fromNames)::text[]) AND (p.lease_until IS NULL OR p.lease_until < now())
                LIMIT \(limit)
                FOR UPDATE OF p SKIP LOCKED
            ), moved AS (
                UPDATE payments p
                SET state = CASE WHEN s.sent THEN \(sent.toName) ELSE \(unsent.toName) END,
                    unknown_since = CASE WHEN s.sent THEN coalesce(p.unknown_since, now()) END,
                    -- The interrupted call may have left: the wait without a call is over.
                    unsent_since = CASE WHEN s.sent THEN NULL ELSE p.unsent_since END,
                    reason_code = CASE WHEN s.sent THEN 'interrupted' ELSE p.reason_code END,
                    reason_message = CASE WHEN s.sent THEN 'a call was interrupted before its answer was recorded' ELSE p.reason_message END,
                    retry_due_at = now(), lease_token = NULL, lease_until = NULL, leased_by = NULL, updated_at = now()
                FROM stranded s WHERE p.payment_id = s.payment_id
                RETURNING p.payment_id
            ), interrupted AS (
                UPDATE payment_attempts a SET finished_at = now(), outcome = 'interrupted'
                FROM moved m WHERE a.payment_id = m.payment_id AND a.finished_at IS NULL
            )
            SELECT count(*)::integer FROM moved
            """)
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// Extends the leases this process still holds (one statement for all of them). Returns
    /// the payment ids whose lease is no longer this holder's (taken over, or settled).
    ///
    /// A row another session holds locked is skipped, not waited for: one locked row must not
    /// make the whole renewal wait out `lock_timeout` and fail, letting every lease of the
    /// process lapse at once. A skipped lease counts as still held; the next renewal tries it.
    public func renew(_ leases: [(paymentID: String, lease: String)]) async throws -> Set<String> {
        guard !leases.isEmpty else { return [] }
        let rows = try await database.rows(
            """
            WITH r AS (
                SELECT * FROM unnest(\(leases.map(\.paymentID))::text[], \(leases.map(\.lease))::text[]) AS r(payment_id, lease)
            ), locked AS (
                SELECT payment_id FROM payments WHERE payment_id IN (SELECT payment_id FROM r)
                ORDER BY payment_id FOR NO KEY UPDATE SKIP LOCKED
            ), renewed AS (
                UPDATE payments p SET lease_until = now() + make_interval(secs => \(leaseSeconds))
                FROM r
                WHERE p.payment_id = r.payment_id AND p.lease_token = r.lease AND p.state = ANY(\(PaymentState.open.map(\.rawValue))::text[])
                  AND p.payment_id IN (SELECT payment_id FROM locked)
                RETURNING p.payment_id
            )
            SELECT payment_id FROM renewed
            UNION ALL
            SELECT payment_id FROM r WHERE payment_id NOT IN (SELECT payment_id FROM locked)
            """)
        let renewedOrBusy = Set(try rows.map { try $0.decode(String.self) })
        return Set(leases.map(\.paymentID)).subtracting(renewedOrBusy)
    }

    /// Keeps a message the retry worker cannot read (no payment can be identified from it) as
    /// a dead letter, so its offset can move on and an operator sees it.
    public func deadLetterUnreadable(_ payload: [UInt8], origin: EventOrigin, reason: Reason) async throws {
        let text = StorableText.of(payload.prefix(OrderCreated.maxEventBytes))
        let message = StorableText.of(reason.message)
        let eventID = PaymentIdentity.deadLetterEventID(origin)
        let logger = self.logger
        try await database.transaction { connection in
            let inserted = try await DeadLetterOutbox.insertedID(
                """
                INSERT INTO dead_letters (reason_code, reason_message, payload, source_topic, source_partition, source_offset, source_digest)
                VALUES (\(reason.code), \(message), \(text), \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
                ON CONFLICT DO NOTHING
                RETURNING id
                """, on: connection, logger: logger)
            guard let id = inserted else { return }
            let event = DeadLetterEvent(deadLetterID: id, orderID: nil, reason: Reason(code: reason.code, message: message), source: origin.source)
            try await DeadLetterOutbox.announce(event, eventID: eventID, key: eventID, on: connection, logger: logger)
        }
    }

    /// Rebuilds an accepted order from the ten order columns of `row` starting at `index`
    /// (event_id, order_id, user_id, item_id, price, currency, discount, channel, payment_method, created_at).
    static func order(from row: PostgresRow, startingAt index: Int) throws -> OrderCreated {
        let cells = Array(row)
        func text(_ offset: Int) throws -> String { try cells[index + offset].decode(String.self) }
        return try order(
            eventID: text(0), orderID: text(1), userID: text(2), itemID: text(3), price: cells[index + 4].decode(Int64.self),
            currency: text(5), discount: text(6), channel: text(7), paymentMethod: text(8),
            createdAt: cells[index + 9].decode(String?.self))
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
