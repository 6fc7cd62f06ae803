public import CashierCore
import PostgresNIO

/// One change of a held payment along one transition of `PaymentLifecycle`, with what the
/// transition emits. `PaymentStore.move` makes it in one statement, or refuses it.
public struct PaymentChange: Sendable {
    public var transition: PaymentTransition
    /// The answer of the call this change closes (nil when it closes none, as after a lookup).
    public var outcome: ChannelOutcome?
    /// The payment's reason afterwards (the last error, the decline); nil clears it.
    public var reason: Reason?
    public var reference: String?
    /// The next due time (retry or lookup), in milliseconds since the epoch; nil clears it.
    public var dueAtMilliseconds: Int64?
    /// The result event, when the transition emits one.
    public var result: ResultEvent?
    /// The retry hand-over message, when the transition emits one.
    public var retry: RetryRequest?
    /// The dead letter's reason, when the transition emits one.
    public var deadLetter: Reason?
    /// The last channel error a dead letter names when this change closes no call (a lookup
    /// found no charge after the last call's error); otherwise the outcome's reason is.
    public var lastError: Reason?
    /// No call was sent by this change's try (a refusal, or a `notSent` answer): the payment's
    /// wait without a call goes on (`unsent_since` is kept, or starts now); the answer of a
    /// call sent ends it. A `notSent` try keeps its attempt row, closed `not_sent`: numbers
    /// are never reused, and such rows are not calls (`PaymentTicket.callsSent`).
    public var unsent = false
    /// The calls sent, when a dead letter is to name them rather than the tries (`attempt`).
    public var callsSent: Int?

    public init(
        _ transition: PaymentTransition, outcome: ChannelOutcome? = nil, reason: Reason? = nil, reference: String? = nil,
        dueAtMilliseconds: Int64? = nil, result: ResultEvent? = nil, retry: RetryRequest? = nil, deadLetter: Reason? = nil
    ) {
        self.transition = transition
        self.outcome = outcome
        self.reason = reason
        self.reference = reference
        self.dueAtMilliseconds = dueAtMilliseconds
        self.result = result
        self.retry = retry
        self.deadLetter = deadLetter
    }

    /// The same change with every text Postgres could refuse (a NUL from a channel's answer) escaped.
    var storable: PaymentChange {
        var copy = self
        copy.reason = reason.map(StorableText.of)
        copy.reference = reference.map(StorableText.of)
        copy.deadLetter = deadLetter.map(StorableText.of)
        copy.lastError = lastError.map(StorableText.of)
        copy.outcome = outcome.map(StorableText.of)
        return copy
    }

    /// Whether the change carries exactly what its transition emits (a bug otherwise).
    var matchesTransition: Bool {
        let emits = transition.emits
        return emits.contains(.result) == (result != nil) && emits.contains(.retry) == (retry != nil)
            && emits.contains(.deadLetter) == (deadLetter != nil)
    }
}

extension PaymentStore {
    /// Opens the attempt row of the call about to be sent and returns the ticket with the
    /// attempt number the database gave it, or nil when this holder no longer holds the
    /// payment (its lease was taken over, or the payment moved on): then it must not call.
    ///
    /// A replay's call (`sendFromReplay`) also puts the payment in `resolving` with a lookup due
    /// now: the lookup waits for the replay's lease to lapse, so it happens only if the replay
    /// does not record the answer itself.
    public func send(_ ticket: PaymentTicket) async throws -> PaymentTicket? {
        let transition = switch ticket.state {
        case .retryScheduled: PaymentLifecycle.sendFromRetry
        case .failed: PaymentLifecycle.sendFromReplay
        default: PaymentLifecycle.sendFromProcessing
        }
        let toResolving = transition.to == .resolving
        let rows = try await database.rows(
            """
            WITH sent AS (
                UPDATE payments SET attempts = attempts + 1, state = \(transition.toName), updated_at = now(),
                                    lease_until = now() + make_interval(secs => \(leaseSeconds)),
                                    retry_due_at = CASE WHEN \(toResolving) THEN now() ELSE retry_due_at END,
                                    unknown_since = CASE WHEN \(toResolving) THEN coalesce(unknown_since, now()) ELSE unknown_since END,
                                    lookups = CASE WHEN \(toResolving) THEN 0 ELSE lookups END
                WHERE payment_id = \(ticket.paymentID) AND state = ANY(\(transition.fromNames)::text[])
                  AND lease_token = \(ticket.lease) AND attempts = \(ticket.attempt)
                RETURNING attempts
            ), opened AS (
                INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker)
                SELECT \(ticket.paymentID), attempts, \(ticket.idempotencyKey), \(worker) FROM sent
            )
            SELECT attempts FROM sent
            """)
        var opened = try rows.first?.decode(Int.self)
        if opened == nil { opened = try await reuseOwnOpenAttempt(ticket, transition) }
        guard let attempt = opened else { return nil }
        var sent = ticket
        sent.attempt = attempt
        sent.state = transition.to
        return sent
    }

    /// This holder's earlier try of `send` committed after its answer was lost: its attempt is
    /// still open and no call was made for it (the try failed before calling), so the call goes
    /// out under it rather than being dropped with an attempt that never ran (invariant 7). Its
    /// `started_at` is set to now, when the call really leaves, so the settle window of a later
    /// lookup counts from the call. A statement of its own, with a snapshot taken after the
    /// earlier try's commit (inside `send`'s statement it would not see it after a lock wait).
    private func reuseOwnOpenAttempt(_ ticket: PaymentTicket, _ transition: PaymentTransition) async throws -> Int? {
        let rows = try await database.rows(
            """
            UPDATE payment_attempts a SET started_at = now()
            FROM payments p
            WHERE p.payment_id = \(ticket.paymentID) AND p.state = \(transition.toName)
              AND p.lease_token = \(ticket.lease) AND p.attempts = \(ticket.attempt + 1)
              AND a.payment_id = p.payment_id AND a.attempt_no = p.attempts AND a.finished_at IS NULL
            RETURNING a.attempt_no
            """)
        return try rows.first?.decode(Int.self)
    }

    /// Whether an earlier call of this payment may have charged: any call the channel did not
    /// answer with "not processed" (a server error, an unknown answer, a call interrupted by a
    /// crash or a take-over, or one still open). Then a later "not processed" does not prove
    /// that no money moved.
    public func hadCallThatMayHaveCharged(before ticket: PaymentTicket) async throws -> Bool {
        let rows = try await database.rows(
            """
            SELECT EXISTS (SELECT 1 FROM payment_attempts WHERE payment_id = \(ticket.paymentID) AND attempt_no < \(ticket.attempt)
                           AND (outcome IS NULL OR outcome NOT IN (\(ChannelOutcome.notProcessedKind), \(ChannelOutcome.notSentKind))
                                OR finished_at IS NULL))
            """)
        return try rows.first?.decode(Bool.self) ?? true
    }

    /// Makes `change` to the payment `ticket` holds, in one statement: the payment's new state,
    /// the attempt's answer, and what the transition emits (result, retry message, dead letter).
    /// Returns false — and changes nothing but the attempt row — when the ticket's lease or
    /// attempt is no longer current or the payment is not in a state the transition starts
    /// from: a stale writer is refused.
    @discardableResult
    public func move(_ ticket: PaymentTicket, _ proposed: PaymentChange) async throws -> Bool {
        precondition(proposed.matchesTransition, "\(proposed.transition) emits \(proposed.transition.emits)")
        // Channel answers are echoed into reasons and references: make them storable first, so
        // a NUL in a channel's message can never wedge the payment.
        let change = proposed.storable
        let moved: Bool
        if let letter = change.deadLetter {
            moved = try await moveWithLetter(ticket, change, letter: letter)
        } else {
            // The hot path (a result, a hand-over, a lookup): one statement shared with the
            // other outcomes recorded at the same moment.
            let write = MoveWrite(ticket: ticket, change: change)
            var result = try await groups.moves.submit(write)
            if result == .busy {
                // Another session holds the payment's row: this write alone waits for it (at most
                // `lock_timeout`, then a transient error its caller retries), nobody else does.
                result = try await Self.moveTogether([write], database: database, skipLocked: false)[0]
            }
            moved = result == .moved
        }
        if !moved {
            logger.warning("stale write refused", metadata: [
                "payment_id": "\(ticket.paymentID)", "transition": "\(change.transition)", "attempt": "\(ticket.attempt)",
            ])
        }
        return moved
    }

    /// The rare case (exhaustion, parking): the move, then the dead letter and its
    /// announcement in the same transaction, only if the move was made.
    private func moveWithLetter(_ ticket: PaymentTicket, _ change: PaymentChange, letter: Reason) async throws -> Bool {
        let write = MoveWrite(ticket: ticket, change: change)
        let transition = change.transition
        let order = ticket.order
        let outcome = change.outcome
        let message = write.message
        let lastError = outcome?.reason ?? change.lastError ?? change.reason ?? letter
        let dlqEventID = "dlq_\(ticket.paymentID)_\(ticket.attempt)_\(letter.code)"
        let moveQuery: PostgresQuery = """
            WITH moved AS (
                UPDATE payments
                SET state = \(transition.toName),
                    retry_due_at = to_timestamp(\(change.dueAtMilliseconds)::bigint / 1000.0),
                    reason_code = \(change.reason?.code), reason_message = \(change.reason?.message),
                    channel_reference = coalesce(\(change.reference)::text, channel_reference),
                    settled_at = CASE WHEN \(transition.to.isTerminal) THEN now() ELSE settled_at END,
                    unknown_since = CASE WHEN \(transition.to == .resolving) THEN coalesce(unknown_since, now()) END,
                    lookups = CASE WHEN \(transition.to == .resolving) THEN lookups ELSE 0 END,
                    -- Exhausted or parked for a person: a replay starts a wait of its own.
                    unsent_since = NULL,
                    lease_token = NULL, lease_until = NULL, leased_by = NULL, updated_at = now()
                WHERE payment_id = \(ticket.paymentID) AND state = ANY(\(transition.fromNames)::text[])
                  AND lease_token = \(ticket.lease) AND attempts = \(ticket.attempt)
                RETURNING payment_id
            ), closed AS (
                UPDATE payment_attempts
                SET finished_at = now(), outcome = \(outcome?.kind), channel_reference = \(outcome?.reference),
                    error_code = \(outcome?.reason?.code), error_message = \(outcome?.reason?.message)
                WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(ticket.attempt) AND \(outcome != nil)
                  AND (finished_at IS NULL OR outcome = 'interrupted')
            ), message AS (
                INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
                SELECT \(message?.id), \(message?.kind), \(order.orderID), \(message?.payload), \(ticket.traceparent)
                FROM moved WHERE \(message != nil)
                ON CONFLICT (event_id) DO NOTHING
            )
            SELECT count(*)::integer FROM moved
            """
        let letterQuery: PostgresQuery = """
            INSERT INTO dead_letters (order_id, payment_id, channel, reason_code, reason_message, attempts, payload,
                                      source_topic, source_partition, source_offset, source_digest)
            SELECT o.order_id, \(ticket.paymentID), o.channel, \(letter.code), \(letter.message), \(change.callsSent ?? ticket.callsSent),
                   \(order.json()), o.source_topic, o.source_partition, o.source_offset, o.source_digest
            FROM orders o WHERE o.order_id = \(order.orderID)
            ON CONFLICT (source_topic, source_partition, source_offset, source_digest, reason_code)
            DO UPDATE SET status = 'open', attempts = EXCLUDED.attempts, reason_message = EXCLUDED.reason_message,
                          updated_at = now()
            RETURNING id, source_topic, source_partition, source_offset
            """
        let logger = self.logger
        return try await database.transaction { connection in
            let rows = try await connection.query(moveQuery, logger: logger).collect()
            guard try rows.first?.decode(Int.self) == 1 else { return false }
            if let (id, source) = try await DeadLetterOutbox.inserted(letterQuery, on: connection, logger: logger) {
                let event = DeadLetterEvent(
                    deadLetterID: id, orderID: order.orderID, paymentID: ticket.paymentID, channel: order.channel,
                    attempts: change.callsSent ?? ticket.callsSent,
                    reason: letter, lastError: lastError, source: source, event: order)
                try await DeadLetterOutbox.announce(
                    event, eventID: dlqEventID, key: order.orderID, traceparent: ticket.traceparent, on: connection, logger: logger)
            }
            return true
        }
    }
}
