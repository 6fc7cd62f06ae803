import CashierCore
import PostgresNIO

/// One holder's change of one payment, ready to be made with others (`PaymentStore.move`
/// without a dead letter: the outcomes of the hot path).
struct MoveWrite: Sendable {
    let ticket: PaymentTicket
    let change: PaymentChange

    /// The outbox message the change emits: its event id, kind and payload.
    var message: (id: String, kind: String, payload: String)? {
        if let result = change.result { (result.eventID, "result", result.json()) }
        else if let retry = change.retry { ("retry_\(ticket.paymentID)_\(ticket.attempt)", "retry", retry.json()) }
        else { nil }
    }
}

/// What became of one write of a batch of moves.
enum MoveResult: Sendable, Equatable {
    case moved
    /// Fenced out: the lease or the attempt is no longer current, or the state has moved on.
    case refused
    /// Another session holds the payment's row lock: not tried, so that the rest of the batch
    /// need not wait for it. The write is to be made again on its own.
    case busy
}

extension PaymentStore {
    /// Makes many holders' changes in one statement; returns, per write, what became of it.
    /// Each row binds its own transition's from/to states, its lease token and its attempt,
    /// exactly as the single statement did.
    ///
    /// The payments' rows are locked first, in key order, so two pods' batches that share
    /// payments can never deadlock. With `skipLocked` a row another session holds is skipped
    /// and its write answered `.busy`; without it, the statement waits for it (`lock_timeout`).
    static func moveTogether(_ batch: [MoveWrite], database: Database, skipLocked: Bool = true) async throws(StoreError) -> [MoveResult] {
        // In key order, so two pods' batches that share payments take their locks in one order.
        let writes = batch.sorted { $0.ticket.paymentID < $1.ticket.paymentID }
        let tickets = writes.map(\.ticket)
        let changes = writes.map(\.change)
        let outcomes = changes.map(\.outcome)
        let messages = writes.map(\.message)
        // Only a lookup's success closes dead letters; the hot path's statement leaves the step out.
        let closesLetters = changes.contains { $0.transition == PaymentLifecycle.resolvePaid }
        let rows = try await database.rows(
            """
            WITH input AS (
                SELECT * FROM unnest(
                    \(tickets.map(\.paymentID))::text[], \(tickets.map(\.lease))::text[], \(tickets.map(\.attempt))::bigint[],
                    \(changes.map { $0.transition.fromNames.joined(separator: ",") })::text[], \(changes.map(\.transition.toName))::text[],
                    \(changes.map(\.transition.to.isTerminal))::boolean[], \(changes.map { $0.transition.to == .resolving })::boolean[],
                    \(changes.map { $0.transition == PaymentLifecycle.lookUpAgain })::boolean[],
                    \(changes.map { $0.transition == PaymentLifecycle.resolvePaid })::boolean[],
                    \(NullableArray(changes.map(\.dueAtMilliseconds)))::bigint[],
                    \(NullableArray(changes.map(\.reason?.code)))::text[], \(NullableArray(changes.map(\.reason?.message)))::text[],
                    \(NullableArray(changes.map(\.reference)))::text[],
                    \(NullableArray(outcomes.map { $0?.kind }))::text[], \(NullableArray(outcomes.map { $0?.reference }))::text[],
                    \(NullableArray(outcomes.map { $0?.reason?.code }))::text[], \(NullableArray(outcomes.map { $0?.reason?.message }))::text[],
                    \(NullableArray(messages.map { $0?.id }))::text[], \(NullableArray(messages.map { $0?.kind }))::text[],
                    \(NullableArray(messages.map { $0?.payload }))::text[],
                    \(tickets.map(\.order.orderID))::text[], \(NullableArray(tickets.map(\.traceparent)))::text[],
                    \(changes.map(\.unsent))::boolean[]
                ) AS i(payment_id, lease_token, attempt, from_states, to_state, terminal, to_resolving, bump_lookups, closes_letters,
                       due_ms, reason_code, reason_message, reference,
                       outcome, outcome_reference, error_code, error_message,
                       message_id, message_kind, message_payload, order_id, traceparent, unsent)
            ), locked AS (
                SELECT payment_id FROM payments WHERE payment_id IN (SELECT payment_id FROM input)
                ORDER BY payment_id
                FOR NO KEY UPDATE \(unescaped: skipLocked ? "SKIP LOCKED" : "")
            ), moved AS (
                UPDATE payments p
                SET state = i.to_state,
                    retry_due_at = to_timestamp(i.due_ms / 1000.0),
                    reason_code = i.reason_code, reason_message = i.reason_message,
                    channel_reference = coalesce(i.reference, p.channel_reference),
                    settled_at = CASE WHEN i.terminal THEN now() ELSE p.settled_at END,
                    unknown_since = CASE WHEN i.to_resolving THEN coalesce(p.unknown_since, now()) END,
                    lookups = CASE WHEN i.bump_lookups THEN p.lookups + 1 WHEN i.to_resolving THEN p.lookups ELSE 0 END,
                    -- The wait without a call goes on through lookups; only a call sent ends it.
                    unsent_since = CASE WHEN i.unsent THEN coalesce(p.unsent_since, now())
                                        WHEN i.outcome IS NOT NULL AND i.outcome <> \(ChannelOutcome.notSentKind) THEN NULL
                                        ELSE p.unsent_since END,
                    lease_token = NULL, lease_until = NULL, leased_by = NULL, updated_at = now()
                FROM input i
                WHERE p.payment_id = i.payment_id AND p.payment_id IN (SELECT payment_id FROM locked)
                  AND p.state = ANY(string_to_array(i.from_states, ','))
                  AND p.lease_token = i.lease_token AND p.attempts = i.attempt
                RETURNING i.payment_id, i.lease_token, i.attempt
            ), closed AS (
                UPDATE payment_attempts a
                SET finished_at = now(), outcome = i.outcome, channel_reference = i.outcome_reference,
                    error_code = i.error_code, error_message = i.error_message
                FROM input i
                WHERE a.payment_id = i.payment_id AND a.attempt_no = i.attempt AND i.outcome IS NOT NULL
                  AND i.payment_id IN (SELECT payment_id FROM locked)
                  AND (a.finished_at IS NULL OR a.outcome = 'interrupted')
            ), message AS (
                INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
                SELECT i.message_id, i.message_kind, i.order_id, i.message_payload, i.traceparent
                FROM input i JOIN moved m ON m.payment_id = i.payment_id AND m.lease_token = i.lease_token AND m.attempt = i.attempt
                WHERE i.message_id IS NOT NULL
                ON CONFLICT (event_id) DO NOTHING
            )\(unescaped: closesLetters ? Self.closingLetters : "")
            SELECT true, payment_id, lease_token, attempt FROM moved
            UNION ALL
            SELECT false, i.payment_id, i.lease_token, i.attempt FROM input i WHERE i.payment_id NOT IN (SELECT payment_id FROM locked)
            """)
        // Keyed by the writer, not the payment: a fenced-out writer of a payment whose current
        // holder moved it in the same batch must still hear "refused".
        var moved = Set<String>()
        var busy = Set<String>()
        for row in rows {
            do {
                let (made, payment, lease, attempt) = try row.decode((Bool, String, String, Int64).self)
                if made { moved.insert(Self.writerKey(payment, lease, Int(attempt))) } else { busy.insert(payment) }
            } catch { throw StoreError.classify(error) }
        }
        return batch.map { write in
            if moved.contains(Self.writerKey(write.ticket.paymentID, write.ticket.lease, write.ticket.attempt)) { return .moved }
            return busy.contains(write.ticket.paymentID) ? .busy : .refused
        }
    }

    /// The step of `moveTogether` that settles the open dead letters of a payment a lookup found
    /// paid (an unknown outcome a replay put back on the lookup schedule), audited so.
    private static let closingLetters = """
        , letters AS (
            -- The letter names the calls sent up to now (a replay that lost its lease during its
            -- call left the count to whoever settles the payment); a lookup is no call.
            UPDATE dead_letters d SET status = 'replayed', updated_at = now(),
                                      attempts = m.attempt - \(AttemptSQL.notSentCount(of: "d.payment_id"))
            FROM input i JOIN moved m ON m.payment_id = i.payment_id AND m.lease_token = i.lease_token AND m.attempt = i.attempt
            WHERE i.closes_letters AND d.order_id = i.order_id AND d.payment_id = i.payment_id AND d.status = 'open'
            RETURNING d.id, d.order_id, i.reference
        ), audited AS (
            INSERT INTO dead_letter_actions (dead_letter_id, order_id, action, actor, reason, outcome, detail, finished_at)
            SELECT id, order_id, 'lookup', 'retry-worker', 'charge found by lookup', 'found_paid',
                   'a lookup found charge ' || coalesce(reference, '?') || '; the payment succeeded', now()
            FROM letters
        )
        """

    private static func writerKey(_ payment: String, _ lease: String, _ attempt: Int) -> String {
        payment + "\u{1F}" + lease + "\u{1F}" + String(attempt)
    }
}
