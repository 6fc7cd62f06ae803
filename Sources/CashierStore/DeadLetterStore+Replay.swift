import CashierCore
import Foundation
import PostgresNIO

/// A replay in three steps: `beginReplay` leases the payment and opens the audit row;
/// the caller asks the channel (and, only when it holds no charge, calls it once through
/// `replayAttempt` with the same idempotency key); `finishReplay` records what happened.
/// Every change binds its `PaymentLifecycle` transition and the replay's lease.
extension DeadLetterStore {
    public func beginReplay(_ id: Int64, actor: String, reason: String, lease: Duration) async throws -> ReplayStart {
        let logger = self.logger
        let token = "replay:\(actor)#" + String(UInt64.random(in: .min ... .max), radix: 16)
        return try await client.withTransaction(logger: logger) { connection -> ReplayStart in
            // The payment's row is locked before the letter's, the order every other writer of
            // both (a lookup closing the letters of a payment it found paid) takes them in, so a
            // replay and a lookup cannot deadlock. A letter's payment never changes.
            let named = try await connection.query(
                "SELECT payment_id, reason_code FROM dead_letters WHERE id = \(id)", logger: logger)
            var letter: (String?, String)? = nil
            for try await row in named.decode((String?, String).self) { letter = row }
            guard let (paymentIDOrNil, reasonCode) = letter else { return .notFound }
            guard let paymentID = paymentIDOrNil else {
                // A record whose outcome could not be stored may name an order accepted before
                // the error: that order's own payment drives it; this record has nothing to redo.
                let what = reasonCode == "storage_error"
                    ? "this record's outcome could not be stored; nothing to replay (an order accepted before the error goes on under its own payment; one never accepted was told rejected and is never charged)"
                    : "this event was never charged and has nothing to replay"
                return .notReplayable("reason \(reasonCode): \(what); `cashier dlq discard \(id) --reason …` closes it")
            }
            let payments = try await connection.query(
                """
                SELECT p.state, p.attempts, p.idempotency_key, p.channel_reference, (p.lease_until > now()), p.leased_by,
                       o.event_id, o.order_id, o.user_id, o.item_id, o.price, o.currency, o.discount, o.channel, o.payment_method, o.created_at
                FROM payments p JOIN orders o USING (order_id)
                WHERE p.payment_id = \(paymentID)
                FOR UPDATE OF p
                """, logger: logger)
            typealias PaymentRow = (String, Int, String, String?, Bool?, String?, String, String, String, String, Int64, String, String, String, String, String?)
            var payment: PaymentRow? = nil
            for try await row in payments.decode(PaymentRow.self) { payment = row }
            let statuses = try await connection.query("SELECT status FROM dead_letters WHERE id = \(id) FOR UPDATE", logger: logger)
            var statusText: String? = nil
            for try await (row) in statuses.decode(String.self) { statusText = row }
            guard let statusText else { return .notFound }
            let status = DeadLetter.Status(rawValue: statusText) ?? .open
            guard let payment, let state = PaymentState(rawValue: payment.0) else {
                throw StoreError(.invariant, "dead letter \(id) names payment \(paymentID), which does not exist or has an unknown state")
            }
            if state == .succeeded {
                guard status == .open else { return .alreadySucceeded(reference: payment.3, changed: false) }
                try await connection.query(
                    """
                    WITH closed AS (
                        UPDATE dead_letters SET status = 'replayed', updated_at = now() WHERE id = \(id)
                    )
                    INSERT INTO dead_letter_actions (dead_letter_id, order_id, action, actor, reason, outcome, detail, finished_at)
                    VALUES (\(id), \(payment.7), 'replay', \(actor), \(reason), 'already_succeeded',
                            \("payment had already succeeded (" + (payment.3 ?? "no reference") + "); nothing charged"), now())
                    """, logger: logger)
                return .alreadySucceeded(reference: payment.3, changed: true)
            }
            guard status == .open else { return .notOpen(status) }
            let claim: PaymentTransition
            if PaymentLifecycle.claimReplayFailed.allows(state) {
                claim = PaymentLifecycle.claimReplayFailed
            } else if PaymentLifecycle.claimReplayParked.allows(state) {
                claim = PaymentLifecycle.claimReplayParked
            } else {
                return .busy("payment is \(state.rawValue) (the retry worker owns it)")
            }
            if payment.4 == true { return .busy("another process holds it (\(payment.5 ?? "unknown"))") }
            let order = try PaymentStore.order(
                eventID: payment.6, orderID: payment.7, userID: payment.8, itemID: payment.9, price: payment.10, currency: payment.11,
                discount: payment.12, channel: payment.13, paymentMethod: payment.14, createdAt: payment.15)
            let actions = try await connection.query(
                """
                WITH leased AS (
                    UPDATE payments SET lease_until = now() + make_interval(secs => \(lease.wholeMilliseconds)::bigint / 1000.0),
                                        lease_token = \(token), leased_by = \("replay:" + actor), state = \(claim.toName), updated_at = now()
                    WHERE payment_id = \(paymentID) AND state = ANY(\(claim.fromNames)::text[])
                )
                INSERT INTO dead_letter_actions (dead_letter_id, order_id, action, actor, reason, outcome, detail)
                VALUES (\(id), \(order.orderID), 'replay', \(actor), \(reason), 'started', '')
                RETURNING id
                """, logger: logger)
            var actionID: Int64 = 0
            for try await value in actions.decode(Int64.self) { actionID = value }
            var replay = ReplayClaim(
                letterID: id, actionID: actionID, actor: actor, paymentID: paymentID, order: order, idempotencyKey: payment.2,
                attempts: payment.1, reference: payment.3, lease: token, state: claim.to)
            replay.leaseDuration = lease
            // Tries whose charge never left are no calls (what the replay's result names).
            let unsent = try await connection.query(
                "SELECT \(unescaped: AttemptSQL.notSentCount(of: "p.payment_id")) FROM payments p WHERE p.payment_id = \(paymentID)",
                logger: logger)
            for try await count in unsent.decode(Int.self) { replay.notSentAttempts = count }
            return .ready(replay)
        }
    }

    /// Opens the replay's one channel call (a `failed` payment only): the next attempt number,
    /// from the database, with the same key, and the payment `resolving` under the replay's
    /// lease (`sendFromReplay`), so a replay that never records the answer leaves it to be
    /// looked up. Nil when the replay lost its lease.
    public func replayAttempt(_ claim: ReplayClaim) async throws -> PaymentTicket? {
        try await PaymentStore(client: client, logger: logger, worker: "replay:" + claim.actor, lease: claim.leaseDuration).send(claim.ticket)
    }

    /// Records how the replay ended, releases the payment and closes the audit row.
    public func finishReplay(_ claim: ReplayClaim, _ proposed: ReplayFinish, detail proposedDetail: String) async throws {
        let logger = self.logger
        // The channel's answer is echoed into the payment, its attempt, the letter and the audit
        // row: a NUL in it would fail every statement, leaving the replay unrecorded.
        let finish = proposed.storable
        let detail = StorableText.of(proposedDetail)
        let lostSuccess: String? = try await client.withTransaction(logger: logger) { connection -> String? in
            // The payment's row lock first, held whether or not the replay still holds the
            // payment: its attempt row is then closed in order with the other writers, which
            // all lock the payment first (a lookup or a notification counting the calls sent).
            try await connection.query("SELECT 1 FROM payments WHERE payment_id = \(claim.paymentID) FOR UPDATE", logger: logger)
            // Whether the replay's change of the payment went through (a replay whose lease was
            // taken over meanwhile changes nothing, and must not close the letter either; the
            // payment is then `resolving` in other hands, or settled).
            var applied = true
            var lostSuccess: String? = nil
            switch finish {
            case .foundPaid(let reference, let result), .charged(_, let reference, let result):
                let transition = PaymentLifecycle.replaySucceed
                let rows = try await connection.query(
                    """
                    WITH paid AS (
                        UPDATE payments SET state = \(transition.toName), channel_reference = \(reference), reason_code = NULL,
                                            reason_message = NULL, settled_at = now(), updated_at = now(), retry_due_at = NULL,
                                            unknown_since = NULL
                        WHERE payment_id = \(claim.paymentID) AND state = ANY(\(transition.fromNames)::text[]) AND lease_token = \(claim.lease)
                        RETURNING payment_id
                    ), published AS (
                        INSERT INTO outbox (event_id, kind, message_key, payload)
                        SELECT \(result.eventID), 'result', \(claim.order.orderID), \(result.json()) FROM paid
                        ON CONFLICT (event_id) DO NOTHING
                    )
                    SELECT count(*)::integer FROM paid
                    """, logger: logger)
                applied = try await rows.collect().first?.decode(Int.self) == 1
                if !applied { lostSuccess = reference }
            case .requeued:
                let transition = PaymentLifecycle.replayUnpaid
                let rows = try await connection.query(
                    """
                    UPDATE payments SET state = \(transition.toName), retry_due_at = now(), unknown_since = NULL, lookups = 0, updated_at = now()
                    WHERE payment_id = \(claim.paymentID) AND state = ANY(\(transition.fromNames)::text[]) AND lease_token = \(claim.lease)
                    RETURNING payment_id
                    """, logger: logger)
                applied = try await !rows.collect().isEmpty
            case .declined(let ticket, let reason):
                // A decline after all: back to `failed` (the replay's call had made it
                // `resolving`); the order's `failed` result stands; the reason is updated.
                let transition = PaymentLifecycle.replayNotCharged
                let rows = try await connection.query(
                    """
                    UPDATE payments SET state = \(transition.toName), reason_code = \(reason.code),
                                        reason_message = \(reason.message), retry_due_at = NULL, unknown_since = NULL, lookups = 0,
                                        updated_at = now()
                    WHERE payment_id = \(claim.paymentID) AND state = ANY(\(transition.fromNames)::text[]) AND lease_token = \(claim.lease)
                      AND attempts = \(ticket.attempt)
                    RETURNING payment_id
                    """, logger: logger)
                applied = try await !rows.collect().isEmpty
            case .failedAgain(let ticket, let outcome):
                // Not processed (the call did nothing, and the replay's lookup had found no
                // charge): back to `failed`. Anything else — unknown, or a server error, which
                // does not say whether it charged — stays `resolving`, looked up from now.
                let rows: PostgresRowSequence
                if outcome.chargedNothing {
                    let transition = PaymentLifecycle.replayNotCharged
                    rows = try await connection.query(
                        """
                        UPDATE payments SET state = \(transition.toName), retry_due_at = NULL, unknown_since = NULL, lookups = 0, updated_at = now()
                        WHERE payment_id = \(claim.paymentID) AND state = ANY(\(transition.fromNames)::text[]) AND lease_token = \(claim.lease)
                          AND attempts = \(ticket.attempt)
                        RETURNING payment_id
                        """, logger: logger)
                } else {
                    let transition = PaymentLifecycle.replayUnknown
                    rows = try await connection.query(
                        """
                        UPDATE payments SET state = \(transition.toName), retry_due_at = now(), unknown_since = coalesce(unknown_since, now()),
                                            lookups = 0, updated_at = now()
                        WHERE payment_id = \(claim.paymentID) AND state = ANY(\(transition.fromNames)::text[]) AND lease_token = \(claim.lease)
                          AND attempts = \(ticket.attempt)
                        RETURNING payment_id
                        """, logger: logger)
                }
                applied = try await !rows.collect().isEmpty
                try await connection.query(
                    """
                    UPDATE dead_letters
                    SET reason_message = \("replay failed again: " + (outcome.reason.map { "\($0.code): \($0.message)" } ?? outcome.kind)),
                        updated_at = now()
                    WHERE id = \(claim.letterID) AND \(applied)
                    """, logger: logger)
            case .unconfirmed(let reason) where reason.code == ChannelOutcome.termsMismatchCode:
                // Found for a letter of another cause (a parked `outcome_unknown`, a `failed`
                // one): from now on the letter says so, and the operator's next replay of it
                // may accept the charge (a parked payment is never looked up again, so no
                // lookup would ever write this letter). Unless the order has one already.
                try await connection.query(
                    """
                    UPDATE dead_letters d
                    SET reason_code = \(reason.code), reason_message = \(reason.message), updated_at = now()
                    WHERE d.id = \(claim.letterID) AND d.status = 'open' AND \(applied)
                      AND NOT EXISTS (
                          SELECT 1 FROM dead_letters o
                          WHERE o.source_topic = d.source_topic AND o.source_partition = d.source_partition
                            AND o.source_offset = d.source_offset AND o.source_digest = d.source_digest AND o.reason_code = \(reason.code))
                    """, logger: logger)
            case .unconfirmed:
                break
            }
            if let (ticket, outcome) = finish.call {
                // The letter names the calls sent, the replay's own among them unless its charge
                // never left. A replay whose lease was taken over leaves the letter to the new
                // holder, which may have made calls since.
                let sent = outcome.kind == ChannelOutcome.notSentKind ? 0 : 1
                try await connection.query(
                    """
                    UPDATE dead_letters SET attempts = \(claim.attempts - claim.notSentAttempts + sent), updated_at = now()
                    WHERE id = \(claim.letterID) AND \(applied)
                    """, logger: logger)
                try await connection.query(
                    """
                    UPDATE payment_attempts
                    SET finished_at = now(), outcome = \(outcome.kind), channel_reference = \(outcome.reference),
                        error_code = \(outcome.reason?.code), error_message = \(outcome.reason?.message)
                    WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(ticket.attempt)
                      -- An answer recorded meanwhile by the payment's new holder stands.
                      AND (finished_at IS NULL OR outcome = 'interrupted')
                    """, logger: logger)
            }
            let closesLetter = applied && {
                switch finish {
                case .foundPaid, .charged, .declined, .requeued: true
                case .failedAgain, .unconfirmed: false
                }
            }()
            try await connection.query(
                """
                WITH released AS (
                    UPDATE payments SET lease_until = NULL, leased_by = NULL, lease_token = NULL
                    WHERE payment_id = \(claim.paymentID) AND lease_token = \(claim.lease)
                ), letter AS (
                    UPDATE dead_letters SET status = 'replayed', updated_at = now() WHERE id = \(claim.letterID) AND \(closesLetter)
                )
                UPDATE dead_letter_actions SET outcome = \(applied ? finish.word : "lease_lost"), detail = \(detail), finished_at = now()
                WHERE id = \(claim.actionID)
                """, logger: logger)
            return lostSuccess
        }
        // The replay learned a success but another process holds the payment now: recorded all
        // the same, as any late success is (never dropped).
        if let reference = lostSuccess {
            _ = try await PaymentStore(client: client, logger: logger, worker: "replay:" + claim.actor).learnSuccess(
                idempotencyKey: claim.idempotencyKey, channel: claim.order.channel, reference: reference,
                occurredAt: Timestamp.rfc3339(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)),
                learnedBy: "a replay whose lease was taken over")
        }
    }
}
