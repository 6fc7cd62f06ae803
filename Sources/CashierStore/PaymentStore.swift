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
    func newLease() -> String {
        worker + "#" + String(UInt64.random(in: .min ... .max), radix: 16)
    }

    var leaseSeconds: Double { Double(leaseDuration.wholeMilliseconds) / 1000 }

    // MARK: Accepting events

    /// Records a valid event. A new order gets its payment, held by this process, in one
    /// statement shared with the other new orders accepted at the same moment (the hot path,
    /// `GroupCommit`); anything else takes the careful path below.
    ///
    /// - Parameter openAttempt: the caller holds the channel's place for the call, so a new
    ///   payment's first attempt row is opened in the same statement (one round trip fewer per
    ///   order). Without it the payment starts with no attempt, and `send` opens one later.
    public func accept(_ order: OrderCreated, origin: EventOrigin, traceparent: String? = nil, openAttempt: Bool = false) async throws -> Acceptance {
        let write = AcceptWrite(
            order: order, origin: origin, traceparent: traceparent, openAttempt: openAttempt,
            paymentID: PaymentIdentity.paymentID(orderID: order.orderID), idempotencyKey: PaymentIdentity.idempotencyKey(orderID: order.orderID),
            lease: newLease())
        if try await groups.accepts.submit(write) {
            var ticket = PaymentTicket(
                paymentID: write.paymentID, order: order, idempotencyKey: write.idempotencyKey, attempt: openAttempt ? 1 : 0,
                lease: write.lease, state: PaymentLifecycle.accept.to, traceparent: traceparent)
            ticket.attemptOpen = openAttempt
            return .charge(ticket)
        }
        return try await acceptExisting(order, origin: origin, traceparent: traceparent)
    }

    /// The order id is known: a duplicate, a conflict, or a payment whose holder vanished.
    private func acceptExisting(_ order: OrderCreated, origin: EventOrigin, traceparent: String?) async throws -> Acceptance {
        let worker = self.worker
        let logger = self.logger
        let lease = newLease()
        let leaseSeconds = self.leaseSeconds
        let resume = PaymentLifecycle.resume
        return try await database.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT o.fingerprint, p.payment_id, p.state, p.attempts, p.idempotency_key, p.channel_reference,
                       coalesce(p.lease_until < now(), true)
                FROM orders o JOIN payments p USING (order_id)
                WHERE o.order_id = \(order.orderID)
                FOR UPDATE OF p
                """, logger: logger)
            var existing: (String, String, String, Int, String, String?, Bool)? = nil
            for try await row in rows.decode((String, String, String, Int, String, String?, Bool).self) { existing = row }
            guard let (fingerprint, paymentID, stateText, attempts, key, reference, lapsed) = existing else {
                throw StoreError(.invariant, "order \(order.orderID) exists without a payment")
            }
            guard let state = PaymentState(rawValue: stateText) else {
                throw StoreError(.invariant, "payment \(paymentID) has unknown state \(stateText)")
            }
            if fingerprint != order.fingerprint {
                try await Self.recordConflict(order, existingFingerprint: fingerprint, origin: origin, on: connection, logger: logger)
                return .conflict
            }
            try await connection.query(
                """
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition)
                VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(order.eventID), \(order.orderID), 'duplicate')
                ON CONFLICT DO NOTHING
                """, logger: logger)
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
                                        lease_until = now() + make_interval(secs => \(leaseSeconds))
                    WHERE payment_id = \(paymentID) AND state = ANY(\(resume.fromNames)::text[])
                )
                UPDATE payment_attempts SET finished_at = now(), outcome = 'interrupted'
                WHERE payment_id = \(paymentID) AND finished_at IS NULL
                """, logger: logger)
            return .charge(PaymentTicket(
                paymentID: paymentID, order: order, idempotencyKey: key, attempt: attempts, lease: lease, state: resume.to,
                reference: reference, resumed: true, traceparent: traceparent))
        }
    }

    private static func recordConflict(
        _ order: OrderCreated, existingFingerprint: String, origin: EventOrigin, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let reason = Reason(
            code: "order_conflict",
            message: "order \(order.orderID) was already received with other chargeable fields; this event was not charged")
        let payload = order.json()
        let dlqEventID = PaymentIdentity.deadLetterEventID(origin)
        try await connection.query(
            """
            WITH inbox_row AS (
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition,
                                   reason_code, reason_message)
                VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(order.eventID), \(order.orderID),
                        'conflict', \(reason.code), \(reason.message))
                ON CONFLICT DO NOTHING
            ), letter AS (
                INSERT INTO dead_letters (order_id, channel, reason_code, reason_message, payload,
                                          source_topic, source_partition, source_offset, source_digest)
                VALUES (\(order.orderID), \(order.channel.rawValue), \(reason.code), \(reason.message), \(payload),
                        \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            INSERT INTO outbox (event_id, kind, message_key, payload)
            SELECT \(dlqEventID), 'dlq', \(order.orderID),
                   json_build_object('dead_letter_id', id, 'order_id', \(order.orderID), 'reason',
                       json_build_object('code', \(reason.code)::text, 'message', \(reason.message)::text),
                       'source', json_build_object('topic', \(origin.topic)::text, 'partition', \(origin.partition)::integer,
                                                   'offset', \(origin.offset)::bigint),
                       'event', \(payload)::json)::text
            FROM letter
            ON CONFLICT (event_id) DO NOTHING
            """, logger: logger)
        logger.warning("order conflict dead-lettered", metadata: ["order_id": "\(order.orderID)", "existing": "\(existingFingerprint)"])
    }

    /// Records an event that cannot be charged, and its `rejected` result, unless the event
    /// names an order that already exists: then it is a conflict and the order's result stands.
    public func reject(_ rejection: OrderRejection, payload: [UInt8], origin: EventOrigin, result: ResultEvent) async throws {
        let stored = payload.count <= OrderCreated.maxEventBytes ? payload : Array(payload.prefix(1024))
        try await database.rows(
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
            """)
    }

    /// Whether an order with this id has been accepted (used to tell a conflicting invalid
    /// event from a new invalid one).
    public func orderExists(_ orderID: String) async throws -> Bool {
        let rows = try await database.rows("SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = \(orderID))")
        return try rows.first?.decode(Bool.self) ?? false
    }

    /// Records an invalid event that names an existing order as a conflict (no result event).
    public func rejectAsConflict(_ rejection: OrderRejection, payload: [UInt8], origin: EventOrigin) async throws {
        let orderID = rejection.orderID ?? ""
        let text = StorableText.of(payload.prefix(OrderCreated.maxEventBytes))
        let message = StorableText.of("order \(orderID) was already received; this later event is invalid (\(rejection.reason)) and was not charged")
        let dlqEventID = PaymentIdentity.deadLetterEventID(origin)
        try await database.rows(
            """
            WITH inbox_row AS (
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition,
                                   reason_code, reason_message, payload)
                VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(rejection.eventID), \(orderID),
                        'conflict', 'order_conflict', \(message), \(ByteBuffer(bytes: payload)))
                ON CONFLICT DO NOTHING
            ), letter AS (
                INSERT INTO dead_letters (order_id, reason_code, reason_message, payload, source_topic, source_partition, source_offset, source_digest)
                VALUES (\(orderID), 'order_conflict', \(message), \(text), \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            INSERT INTO outbox (event_id, kind, message_key, payload)
            SELECT \(dlqEventID), 'dlq', \(orderID),
                   json_build_object('dead_letter_id', id, 'order_id', \(orderID)::text,
                       'reason', json_build_object('code', 'order_conflict', 'message', \(message)::text),
                       'source', json_build_object('topic', \(origin.topic)::text, 'partition', \(origin.partition)::integer,
                                                   'offset', \(origin.offset)::bigint))::text
            FROM letter
            ON CONFLICT (event_id) DO NOTHING
            """)
    }

    /// Keeps a consumed record whose outcome cannot be stored (a storage error that is not
    /// transient) as a dead letter with that error, so its offset can move on: a poison record
    /// never holds a partition. Its text is made storable first, so this cannot fail the same way.
    public func deadLetterPoison(_ payload: [UInt8], origin: EventOrigin, error: StoreError) async throws {
        let reason = Reason(code: "storage_error", message: StorableText.of("the outcome of this record could not be stored: \(error)"))
        let text = StorableText.of(payload.prefix(OrderCreated.maxEventBytes))
        let eventID = PaymentIdentity.deadLetterEventID(origin)
        try await database.rows(
            """
            WITH letter AS (
                INSERT INTO dead_letters (reason_code, reason_message, payload, source_topic, source_partition, source_offset, source_digest)
                VALUES (\(reason.code), \(reason.message), \(text), \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            INSERT INTO outbox (event_id, kind, message_key, payload)
            SELECT \(eventID), 'dlq', \(eventID),
                   json_build_object('dead_letter_id', id, 'order_id', NULL,
                       'reason', json_build_object('code', \(reason.code)::text, 'message', \(reason.message)::text),
                       'source', json_build_object('topic', \(origin.topic)::text, 'partition', \(origin.partition)::integer,
                                                   'offset', \(origin.offset)::bigint))::text
            FROM letter
            ON CONFLICT (event_id) DO NOTHING
            """)
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
        case .retryable(let reason): .retryable(of(reason))
        case .unknown(let reason, let reference): .unknown(of(reason), reference: reference.map { of($0) })
        }
    }
    static func of(_ text: String) -> String {
        text.contains("\u{0}") ? text.split(separator: "\u{0}", omittingEmptySubsequences: false).joined(separator: "\\u0000") : text
    }
}
