public import CashierCore
public import Logging
public import PostgresNIO
import NIOCore

/// Every write of the payment pipeline. Each method is one atomic step: either all of it is
/// durable or none of it is, so an offset may be committed as soon as a method returns.
///
/// Every statement that changes a payment binds a `PaymentLifecycle` transition: the states
/// it may start from and the state it leads to. Writes by a holder also name its lease token
/// and the attempt they close, so a writer whose lease was taken over is refused.
public struct PaymentStore: Sendable {
    let database: Database
    var logger: Logger { database.logger }
    var client: PostgresClient { database.client }
    /// Names this process in attempt rows and leases (pod name and pid): "who made this call?".
    let worker: String
    /// How long a lease lasts unless renewed (`LeaseKeeper` renews held leases well before).
    public let leaseDuration: Duration
    /// The hot writes, each shared by the orders that make it at the same moment.
    let groups: GroupCommits

    public init(client: PostgresClient, logger: Logger, worker: String, lease: Duration = .seconds(30), deadline: Duration = .seconds(15)) {
        let database = Database(client: client, logger: logger, deadline: deadline)
        self.database = database
        self.worker = worker
        self.leaseDuration = lease
        self.groups = GroupCommits(database: database, worker: worker, leaseSeconds: Double(lease.wholeMilliseconds) / 1000)
    }

    /// A fresh lease token: this process's name and 64 random bits.
    public func newLease() -> String {
        worker + "#" + String(UInt64.random(in: .min ... .max), radix: 16)
    }

    var leaseSeconds: Double { Double(leaseDuration.wholeMilliseconds) / 1000 }

    // MARK: Accepting events

    /// Records a valid event. A new order gets its payment, held by this process, in one
    /// statement shared with the other new orders accepted at the same moment (the hot path,
    /// `GroupCommit`); anything else takes the careful path below.
    ///
    /// - Parameters:
    ///   - openAttempt: the caller holds the channel's place for the call, so a new payment's
    ///     first attempt row is opened in the same statement (one round trip fewer per order).
    ///     Without it the payment starts with no attempt, and `send` opens one later.
    ///   - lease: the lease token the caller uses for every try of this record (`newLease()`,
    ///     once per record). A try whose write committed after its answer was lost (the
    ///     client's deadline passed first) is then recognised as the caller's own on the next
    ///     try, instead of as a payment some live holder drives: without it, the order would be
    ///     left to the sweeper with an attempt opened and never sent (invariant 7).
    public func accept(
        _ order: OrderCreated, origin: EventOrigin, traceparent: String? = nil, openAttempt: Bool = false, lease: String? = nil
    ) async throws -> Acceptance {
        let write = AcceptWrite(
            order: order, origin: origin, traceparent: traceparent, openAttempt: openAttempt,
            paymentID: PaymentIdentity.paymentID(orderID: order.orderID), idempotencyKey: PaymentIdentity.idempotencyKey(orderID: order.orderID),
            lease: lease ?? newLease())
        if try await groups.accepts.submit(write) {
            var ticket = PaymentTicket(
                paymentID: write.paymentID, order: order, idempotencyKey: write.idempotencyKey, attempt: openAttempt ? 1 : 0,
                lease: write.lease, state: PaymentLifecycle.accept.to, traceparent: traceparent)
            ticket.attemptOpen = openAttempt
            return .charge(ticket)
        }
        return try await acceptExisting(order, origin: origin, traceparent: traceparent, ownLease: write.lease, openAttempt: openAttempt)
    }

    /// The order id is known: a duplicate, a conflict, a payment whose holder vanished, or this
    /// caller's own earlier try, committed although its answer was lost.
    private func acceptExisting(
        _ order: OrderCreated, origin: EventOrigin, traceparent: String?, ownLease: String, openAttempt: Bool
    ) async throws -> Acceptance {
        let worker = self.worker
        let logger = self.logger
        // A take-over is under the caller's lease too, so that a try of it whose answer was
        // lost is the caller's own as well.
        let lease = ownLease
        let leaseSeconds = self.leaseSeconds
        let resume = PaymentLifecycle.resume
        return try await database.transaction { connection in
            // The row lock first, in a statement of its own: a `send` of the caller's lost
            // earlier try may hold it and commit an attempt row while we wait. Read Committed
            // re-reads only the locked row after such a wait, and a subquery of that statement
            // would still miss the new attempt (and open a second one, a burned attempt); the
            // next statement's snapshot sees it.
            try await connection.query(
                "SELECT 1 FROM payments WHERE order_id = \(order.orderID) FOR UPDATE", logger: logger)
            let rows = try await connection.query(
                """
                SELECT o.fingerprint, p.payment_id, p.state, p.attempts, p.idempotency_key, p.channel_reference,
                       coalesce(p.lease_until < now(), true), p.lease_token IS NOT DISTINCT FROM \(ownLease),
                       EXISTS (SELECT 1 FROM payment_attempts a WHERE a.payment_id = p.payment_id AND a.attempt_no = p.attempts
                                                               AND a.finished_at IS NULL),
                       (SELECT count(*)::integer FROM payment_attempts a
                        WHERE a.payment_id = p.payment_id AND (a.outcome = 'interrupted' OR a.finished_at IS NULL)),
                       \(unescaped: AttemptSQL.notSentCount(of: "p.payment_id"))
                FROM orders o JOIN payments p USING (order_id)
                WHERE o.order_id = \(order.orderID)
                FOR UPDATE OF p
                """, logger: logger)
            var existing: (String, String, String, Int, String, String?, Bool, Bool, Bool, Int, Int)? = nil
            for try await row in rows.decode((String, String, String, Int, String, String?, Bool, Bool, Bool, Int, Int).self) { existing = row }
            guard let (fingerprint, paymentID, stateText, attempts, key, reference, lapsed, own, attemptOpen, interrupted, notSent) = existing else {
                guard case .some(let rejected) = try await Self.earlierRejection(order.orderID, digest: origin.digest, on: connection, logger: logger) else {
                    throw StoreError(.invariant, "order \(order.orderID) exists without a payment")
                }
                // Rejected before it could be stored: the buyer was told so; never charged. An
                // event with other chargeable fields is a conflict, as for an accepted order
                // (a rejection kept before version 7 has no fingerprint: taken as the same).
                if let rejected, rejected != order.fingerprint {
                    try await Self.recordConflict(order, existingFingerprint: rejected, origin: origin, on: connection, logger: logger)
                    return .conflict
                }
                try await Self.recordDuplicate(order, origin: origin, on: connection, logger: logger)
                return .rejectedEarlier
            }
            guard let state = PaymentState(rawValue: stateText) else {
                throw StoreError(.invariant, "payment \(paymentID) has unknown state \(stateText)")
            }
            if fingerprint != order.fingerprint {
                try await Self.recordConflict(order, existingFingerprint: fingerprint, origin: origin, on: connection, logger: logger)
                return .conflict
            }
            if own, resume.allows(state) {
                var acceptance = try await Self.ownEarlierTry(
                    order, paymentID: paymentID, key: key, attempts: attempts, reference: reference, lease: ownLease,
                    attemptOpen: attemptOpen, openAttempt: openAttempt, traceparent: traceparent, on: connection, logger: logger)
                if case .charge(var ticket) = acceptance {
                    ticket.notSentAttempts = notSent
                    acceptance = .charge(ticket)
                }
                return acceptance
            }
            try await Self.recordDuplicate(order, origin: origin, on: connection, logger: logger)
            // Held by a live process, on the retry schedule, being looked up, or settled: its
            // owner drives it (and the sweeper takes over from an owner that dies).
            guard resume.allows(state), lapsed else { return .duplicate(state: state) }
            // Its holder vanished (its process died, or its partition moved and the lease ran
            // out): take it over. An open attempt is closed as interrupted; the next call
            // reuses the idempotency key, which the channel answers without a new charge.
            try await connection.query(
                """
                WITH taken AS (
                    UPDATE payments SET lease_token = \(lease), leased_by = \(worker), updated_at = now(),
                                        lease_until = now() + make_interval(secs => \(leaseSeconds)),
                                        -- The attempt closed as interrupted below may have sent
                                        -- its call: the wait without a call is over.
                                        unsent_since = CASE WHEN \(unescaped: AttemptSQL.hasOpenAttempt(of: "payments.payment_id"))
                                                            THEN NULL ELSE unsent_since END
                    WHERE payment_id = \(paymentID) AND state = ANY(\(resume.fromNames)::text[])
                )
                UPDATE payment_attempts SET finished_at = now(), outcome = 'interrupted'
                WHERE payment_id = \(paymentID) AND finished_at IS NULL
                """, logger: logger)
            var ticket = PaymentTicket(
                paymentID: paymentID, order: order, idempotencyKey: key, attempt: attempts, lease: lease, state: resume.to,
                reference: reference, resumed: true, traceparent: traceparent)
            ticket.interruptedAttempts = interrupted
            ticket.notSentAttempts = notSent
            return .charge(ticket)
        }
    }

    /// The caller's earlier try of this record committed, and the caller never learned it: no
    /// call followed (a try that sent its call records the answer or gives the record up, it is
    /// never tried again). It holds the payment under its own lease. An attempt row it opened
    /// stays open for the call about to be sent; one it cannot use now (the channel refused its
    /// place meanwhile) is removed, because no call was sent for it (invariant 7).
    private static func ownEarlierTry(
        _ order: OrderCreated, paymentID: String, key: String, attempts: Int, reference: String?, lease: String, attemptOpen: Bool,
        openAttempt: Bool, traceparent: String?, on connection: PostgresConnection, logger: Logger
    ) async throws -> Acceptance {
        var attempt = attempts
        if attemptOpen, openAttempt {
            // The call leaves now: the settle window of a later lookup counts from here.
            try await connection.query(
                "UPDATE payment_attempts SET started_at = now() WHERE payment_id = \(paymentID) AND attempt_no = \(attempts) AND finished_at IS NULL",
                logger: logger)
        } else if attemptOpen {
            try await connection.query(
                """
                WITH unsent AS (
                    DELETE FROM payment_attempts WHERE payment_id = \(paymentID) AND attempt_no = \(attempts) AND finished_at IS NULL
                    RETURNING attempt_no
                )
                UPDATE payments SET attempts = attempts - 1, updated_at = now()
                WHERE payment_id = \(paymentID) AND lease_token = \(lease) AND EXISTS (SELECT 1 FROM unsent)
                """, logger: logger)
            attempt -= 1
        }
        var ticket = PaymentTicket(
            paymentID: paymentID, order: order, idempotencyKey: key, attempt: attempt, lease: lease, state: PaymentLifecycle.accept.to,
            reference: reference, traceparent: traceparent)
        ticket.attemptOpen = attemptOpen && openAttempt
        logger.notice("an earlier try of this order's accept had committed; continuing under its lease", metadata: ["order_id": "\(order.orderID)"])
        return .charge(ticket)
    }

    /// Keeps a record of an order already known as a duplicate in the inbox.
    private static func recordDuplicate(_ order: OrderCreated, origin: EventOrigin, on connection: PostgresConnection, logger: Logger) async throws {
        try await recordDuplicate(eventID: order.eventID, orderID: order.orderID, origin: origin, on: connection, logger: logger)
    }

    private static func recordDuplicate(eventID: String?, orderID: String, origin: EventOrigin, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition)
            VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(eventID), \(orderID), 'duplicate')
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    /// If an earlier record of `orderID` was rejected (it was invalid, or could not be stored),
    /// the fingerprint its rejection decided the order with (`.some(nil)`, taken as this
    /// order's own, for a storage rejection kept before it was recorded, or one of these very
    /// bytes).
    private static func earlierRejection(
        _ orderID: String, digest: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> String?? {
        let rows = try await connection.query(
            "SELECT fingerprint FROM order_fates WHERE order_id = \(orderID) AND fate = 'rejected'", logger: logger)
        for try await fingerprint in rows.decode(String?.self) { return .some(fingerprint) }
        // A rejection by a pod of an earlier release during a rolling deploy, kept in the inbox
        // only: an invalid one's fingerprint is the invalid event's, as migration 9 made it.
        let older = try await connection.query(
            """
            SELECT CASE WHEN reason_code IS NULL OR reason_code = 'storage_error' OR source_digest = \(digest) THEN NULL
                        ELSE \(OrderRejection.fingerprintPrefix) || source_digest END
            FROM inbox WHERE order_id = \(orderID) AND disposition = 'rejected'
            ORDER BY source_digest = \(digest) DESC, received_at LIMIT 1
            """, logger: logger)
        for try await fingerprint in older.decode(String?.self) { return .some(fingerprint) }
        return .none
    }

    private static func recordConflict(
        _ order: OrderCreated, existingFingerprint: String, origin: EventOrigin, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let reason = Reason(
            code: "order_conflict",
            message: "order \(order.orderID) was already received with other chargeable fields; this event was not charged")
        let payload = order.json()
        let dlqEventID = PaymentIdentity.deadLetterEventID(origin)
        let inserted = try await DeadLetterOutbox.insertedID(
            """
            WITH inbox_row AS (
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition,
                                   reason_code, reason_message)
                VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(order.eventID), \(order.orderID),
                        'conflict', \(reason.code), \(reason.message))
                ON CONFLICT DO NOTHING
            )
            INSERT INTO dead_letters (order_id, channel, reason_code, reason_message, payload,
                                      source_topic, source_partition, source_offset, source_digest)
            VALUES (\(order.orderID), \(order.channel.rawValue), \(reason.code), \(reason.message), \(payload),
                    \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
            ON CONFLICT DO NOTHING
            RETURNING id
            """, on: connection, logger: logger)
        if let id = inserted {
            let event = DeadLetterEvent(deadLetterID: id, orderID: order.orderID, reason: reason, source: origin.source, event: order)
            try await DeadLetterOutbox.announce(event, eventID: dlqEventID, key: order.orderID, on: connection, logger: logger)
        }
        logger.warning("order conflict dead-lettered", metadata: ["order_id": "\(order.orderID)", "existing": "\(existingFingerprint)"])
    }

    /// Records an event that cannot be charged, and its `rejected` result — the fate of the order
    /// it names, claimed in `order_fates` like an accept's, so that the order's buyer hears one
    /// result (invariant 2): a later valid event of that order is a conflict, never charged.
    /// An event naming an order whose fate is decided is a conflict (no result), or a duplicate
    /// when its bytes are those of the invalid event that decided it.
    public func reject(_ rejection: OrderRejection, payload: [UInt8], origin: EventOrigin, result: ResultEvent) async throws -> Rejection {
        let stored = payload.count <= OrderCreated.maxEventBytes ? payload : Array(payload.prefix(1024))
        let fingerprint = OrderRejection.fingerprint(digest: origin.digest)
        let logger = self.logger
        return try await database.transaction { connection in
            if let orderID = rejection.orderID {
                // The primary key decides a race with an accept of the order on another pod:
                // this insert waits for it, and then finds the order's fate taken.
                let claim = try await connection.query(
                    """
                    INSERT INTO order_fates (order_id, fate, fingerprint)
                    SELECT \(orderID), 'rejected', \(fingerprint)
                    WHERE NOT EXISTS (SELECT 1 FROM orders WHERE order_id = \(orderID))
                      -- rejected by a pod of an earlier release, in the inbox only
                      AND NOT EXISTS (SELECT 1 FROM inbox WHERE order_id = \(orderID) AND disposition = 'rejected')
                    ON CONFLICT (order_id) DO NOTHING
                    RETURNING 1
                    """, logger: logger)
                var claimed = false
                for try await _ in claim.decode(Int.self) { claimed = true }
                if !claimed {
                    return try await Self.answerDecided(rejection, orderID: orderID, fingerprint: fingerprint, payload: payload, origin: origin,
                                                        on: connection, logger: logger)
                }
            }
            try await connection.query(
                """
                WITH inbox_row AS (
                    INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition,
                                       reason_code, reason_message, payload)
                    VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(rejection.eventID), \(rejection.orderID),
                            'rejected', \(rejection.reason.code), \(rejection.reason.message), \(ByteBuffer(bytes: stored)))
                    ON CONFLICT DO NOTHING
                    RETURNING 1
                )
                INSERT INTO outbox (event_id, kind, message_key, payload)
                SELECT \(result.eventID), 'result', \(rejection.orderID ?? result.eventID), \(result.json())
                FROM inbox_row
                ON CONFLICT (event_id) DO NOTHING
                """, logger: logger)
            return .rejected
        }
    }

    /// What `reject` made of an invalid event.
    public enum Rejection: Sendable, Equatable {
        /// Its `rejected` result is recorded (or was, by an earlier try of this record).
        case rejected
        /// The same bytes as the invalid event that decided its order: nothing changes.
        case duplicate
        /// Its order's fate was decided otherwise: dead-lettered as `order_conflict`, no result.
        case conflict
    }

    /// An invalid event naming an order whose fate is decided.
    private static func answerDecided(
        _ rejection: OrderRejection, orderID: String, fingerprint: String, payload: [UInt8], origin: EventOrigin,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Rejection {
        let rows = try await connection.query(
            """
            SELECT (SELECT disposition FROM inbox WHERE source_topic = \(origin.topic) AND source_partition = \(origin.partition)
                                                   AND source_offset = \(origin.offset) AND source_digest = \(origin.digest)),
                   EXISTS (SELECT 1 FROM order_fates WHERE order_id = \(orderID) AND fate = 'rejected' AND fingerprint = \(fingerprint))
                   OR EXISTS (SELECT 1 FROM inbox WHERE order_id = \(orderID) AND disposition = 'rejected' AND source_digest = \(origin.digest))
            """, logger: logger)
        var (recorded, same): (String?, Bool) = (nil, false)
        for try await row in rows.decode((String?, Bool).self) { (recorded, same) = row }
        // This very record, recorded before (its offset's commit was lost): as it was.
        switch recorded {
        case "rejected"?: return .rejected
        case "duplicate"?: return .duplicate
        case .some: return .conflict
        case nil: break
        }
        if same {
            try await recordDuplicate(eventID: rejection.eventID, orderID: orderID, origin: origin, on: connection, logger: logger)
            return .duplicate
        }
        try await recordInvalidConflict(rejection, orderID: orderID, payload: payload, origin: origin, on: connection, logger: logger)
        return .conflict
    }

    /// Records an invalid event that names a decided order as a conflict (no result event).
    private static func recordInvalidConflict(
        _ rejection: OrderRejection, orderID: String, payload: [UInt8], origin: EventOrigin, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let text = StorableText.of(payload.prefix(OrderCreated.maxEventBytes))
        let message = StorableText.of("order \(orderID) was already received; this later event is invalid (\(rejection.reason)) and was not charged")
        let inserted = try await DeadLetterOutbox.insertedID(
            """
            WITH inbox_row AS (
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition,
                                   reason_code, reason_message, payload)
                VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(rejection.eventID), \(orderID),
                        'conflict', 'order_conflict', \(message), \(ByteBuffer(bytes: payload)))
                ON CONFLICT DO NOTHING
            )
            INSERT INTO dead_letters (order_id, reason_code, reason_message, payload, source_topic, source_partition, source_offset, source_digest)
            VALUES (\(orderID), 'order_conflict', \(message), \(text), \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
            ON CONFLICT DO NOTHING
            RETURNING id
            """, on: connection, logger: logger)
        guard let id = inserted else { return }
        let event = DeadLetterEvent(
            deadLetterID: id, orderID: orderID, reason: Reason(code: "order_conflict", message: message), source: origin.source)
        try await DeadLetterOutbox.announce(event, eventID: PaymentIdentity.deadLetterEventID(origin), key: orderID, on: connection, logger: logger)
    }

    /// Keeps a consumed record whose outcome cannot be stored (a storage error that is not
    /// transient) as a dead letter with that error, so its offset can move on: a poison record
    /// never holds a partition. Its text is made storable first, so this cannot fail the same way.
    ///
    /// - Parameter rejection: for a record that decoded as a valid order, the order and the
    ///   `rejected` result it gets (invariant 2: the order's event still ends with a result) —
    ///   published only if this claims the order's fate, so no payment exists and none ever
    ///   will; an order accepted first (its later write failed, or another pod accepted it
    ///   meanwhile) keeps its own payment and result.
    public func deadLetterPoison(_ payload: [UInt8], origin: EventOrigin, error: StoreError, rejection: StorageRejection? = nil) async throws {
        let reason = Reason(code: "storage_error", message: StorableText.of("the outcome of this record could not be stored: \(error)"))
        let text = StorableText.of(payload.prefix(OrderCreated.maxEventBytes))
        let eventID = PaymentIdentity.deadLetterEventID(origin)
        let logger = self.logger
        // The order id of a valid order, so that `dlq list --order-id` finds the letter.
        let orderID = rejection.map { StorableText.of($0.order.orderID) }
        try await database.transaction { connection in
            let inserted = try await DeadLetterOutbox.insertedID(
                """
                INSERT INTO dead_letters (reason_code, reason_message, payload, source_topic, source_partition, source_offset, source_digest, order_id)
                VALUES (\(reason.code), \(reason.message), \(text), \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(orderID))
                ON CONFLICT DO NOTHING
                RETURNING id
                """, on: connection, logger: logger)
            if let id = inserted {
                let event = DeadLetterEvent(deadLetterID: id, orderID: orderID, reason: reason, source: origin.source)
                try await DeadLetterOutbox.announce(event, eventID: eventID, key: orderID ?? eventID, on: connection, logger: logger)
            }
            // Written even when the letter already was (one kept before version 7): the
            // statement below changes nothing once the order's fate is decided.
            if let rejection, let orderID {
                // The order's fate is claimed first: an accept of the same order committing
                // meanwhile (another pod, a redelivery) is waited for, and then wins. Only a
                // claimed rejection is published; every later event of the order is answered
                // by it (never charged). An order accepted before version 7 has no fate row:
                // its order row counts.
                try await connection.query(
                    """
                    WITH fate AS (
                        INSERT INTO order_fates (order_id, fate, fingerprint)
                        SELECT \(orderID), 'rejected', \(StorableText.of(rejection.order.fingerprint))
                        WHERE NOT EXISTS (SELECT 1 FROM orders WHERE order_id = \(orderID))
                          -- rejected by a pod of an earlier release, in the inbox only
                          AND NOT EXISTS (SELECT 1 FROM inbox WHERE order_id = \(orderID) AND disposition = 'rejected')
                        ON CONFLICT (order_id) DO NOTHING
                        RETURNING order_id
                    ), rejected AS (
                        SELECT order_id FROM fate
                        UNION
                        SELECT order_id FROM order_fates WHERE order_id = \(orderID) AND fate = 'rejected'
                        UNION
                        SELECT order_id FROM inbox WHERE order_id = \(orderID) AND disposition = 'rejected'
                    ), record AS (
                        INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, order_id, disposition,
                                           reason_code, reason_message)
                        SELECT \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), order_id, 'rejected',
                               \(reason.code), \(reason.message)
                        FROM rejected
                        ON CONFLICT DO NOTHING
                    )
                    INSERT INTO outbox (event_id, kind, message_key, payload)
                    SELECT \(rejection.result.eventID), 'result', order_id, \(StorableText.of(rejection.result.json()))
                    FROM fate
                    ON CONFLICT (event_id) DO NOTHING
                    """, logger: logger)
            }
        }
        logger.error("record dead-lettered: its outcome could not be stored", metadata: [
            "offset": "\(origin.partition)/\(origin.offset)", "error": "\(error)",
        ])
    }
}

/// Text Postgres can store in a `text` column: valid UTF-8 without U+0000 (escaped as `\u0000`).
enum StorableText {
    static func of(_ bytes: some Collection<UInt8>) -> String { of(String(decoding: bytes, as: UTF8.self)) }
    static func of(_ reason: Reason) -> Reason { Reason(code: of(reason.code), message: of(reason.message)) }
    static func of(_ outcome: ChannelOutcome) -> ChannelOutcome {
        switch outcome {
        case .succeeded(let reference): .succeeded(reference: of(reference))
        case .declined(let reason): .declined(of(reason))
        case .notProcessed(let reason): .notProcessed(of(reason))
        case .notSent(let reason): .notSent(of(reason))
        case .retryable(let reason): .retryable(of(reason))
        case .unknown(let reason, let reference): .unknown(of(reason), reference: reference.map { of($0) })
        }
    }
    static func of(_ text: String) -> String {
        text.contains("\u{0}") ? text.split(separator: "\u{0}", omittingEmptySubsequences: false).joined(separator: "\\u0000") : text
    }
}
