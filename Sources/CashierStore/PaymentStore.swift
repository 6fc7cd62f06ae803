public import CashierCore
public import Logging
public import PostgresNIO
import NIOCore

/// Every write of the payment pipeline. Each method is one atomic step: either all of it is
/// durable or none of it is, so an offset may be committed as soon as a method returns.
public struct PaymentStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Names this process in attempt rows (pod name and pid): "who made this call?".
    let worker: String

    public init(client: PostgresClient, logger: Logger, worker: String) {
        self.client = client
        self.logger = logger
        self.worker = worker
    }

    // MARK: Accepting events

    /// Records a valid event. A new order gets its payment and first attempt row in one
    /// statement (the hot path); anything else takes the careful path below.
    public func accept(_ order: OrderCreated, origin: EventOrigin, traceparent: String? = nil) async throws -> Acceptance {
        let paymentID = PaymentIdentity.paymentID(orderID: order.orderID)
        let key = PaymentIdentity.idempotencyKey(orderID: order.orderID)
        let rows = try await client.query(
            """
            WITH new_order AS (
                INSERT INTO orders (order_id, event_id, user_id, item_id, price, currency, discount, amount,
                                    channel, payment_method, fingerprint, created_at,
                                    source_topic, source_partition, source_offset, source_digest)
                VALUES (\(order.orderID), \(order.eventID), \(order.userID), \(order.itemID), \(order.price),
                        \(order.currency.code), \(order.discount.description), \(order.amount),
                        \(order.channel.rawValue), \(order.paymentMethod), \(order.fingerprint), \(order.createdAt),
                        \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest))
                ON CONFLICT (order_id) DO NOTHING
                RETURNING order_id
            ), new_payment AS (
                INSERT INTO payments (payment_id, order_id, state, amount, currency, channel, idempotency_key, attempts, traceparent)
                SELECT \(paymentID), order_id, 'processing', \(order.amount), \(order.currency.code),
                       \(order.channel.rawValue), \(key), 1, \(traceparent)
                FROM new_order
                RETURNING payment_id
            ), new_attempt AS (
                INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker)
                SELECT payment_id, 1, \(key), \(worker) FROM new_payment
            ), inbox_row AS (
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition)
                SELECT \(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(order.eventID), order_id, 'accepted'
                FROM new_order
                ON CONFLICT DO NOTHING
            )
            SELECT count(*)::integer FROM new_order
            """, logger: logger)
        var created = 0
        for try await count in rows.decode(Int.self) { created = count }
        if created == 1 {
            return .charge(PaymentTicket(paymentID: paymentID, order: order, idempotencyKey: key, attempt: 1, resumed: false, traceparent: traceparent))
        }
        return try await acceptExisting(order, origin: origin, traceparent: traceparent)
    }

    /// The order id is known: a duplicate, a conflict, or an interrupted payment to resume.
    private func acceptExisting(_ order: OrderCreated, origin: EventOrigin, traceparent: String?) async throws -> Acceptance {
        let worker = self.worker
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT o.fingerprint, p.payment_id, p.state, p.attempts, p.idempotency_key
                FROM orders o JOIN payments p USING (order_id)
                WHERE o.order_id = \(order.orderID)
                FOR UPDATE OF p
                """, logger: logger)
            var existing: (String, String, String, Int, String)? = nil
            for try await row in rows.decode((String, String, String, Int, String).self) { existing = row }
            guard let (fingerprint, paymentID, stateText, attempts, key) = existing else {
                throw StoreError(.invariant, "order \(order.orderID) exists without a payment")
            }
            guard let state = PaymentState(rawValue: stateText) else {
                throw StoreError(.invariant, "payment \(paymentID) has unknown state \(stateText)")
            }
            if fingerprint != order.fingerprint {
                try await Self.recordConflict(order, existingFingerprint: fingerprint, origin: origin, on: connection, logger: logger)
                return .conflict
            }
            guard state == .processing else {
                try await connection.query(
                    """
                    INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition)
                    VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(order.eventID), \(order.orderID), 'duplicate')
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
                return .duplicate(state: state)
            }
            // Still `processing`: the call that owned it never recorded an outcome (its process
            // died, or its partition moved). Close that attempt as interrupted and make the next
            // one with the same idempotency key, which the channel answers without a new charge.
            let attempt = attempts + 1
            try await connection.query(
                """
                WITH interrupted AS (
                    UPDATE payment_attempts SET finished_at = now(), outcome = 'interrupted'
                    WHERE payment_id = \(paymentID) AND finished_at IS NULL
                ), bumped AS (
                    UPDATE payments SET attempts = \(attempt), updated_at = now() WHERE payment_id = \(paymentID)
                ), inbox_row AS (
                    INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, event_id, order_id, disposition)
                    VALUES (\(origin.topic), \(origin.partition), \(origin.offset), \(origin.digest), \(order.eventID), \(order.orderID), 'duplicate')
                    ON CONFLICT DO NOTHING
                )
                INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker)
                VALUES (\(paymentID), \(attempt), \(key), \(worker))
                """, logger: logger)
            return .charge(PaymentTicket(paymentID: paymentID, order: order, idempotencyKey: key, attempt: attempt, resumed: true, traceparent: traceparent))
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
        try await client.query(
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
    }

    /// Whether an order with this id has been accepted (used to tell a conflicting invalid
    /// event from a new invalid one).
    public func orderExists(_ orderID: String) async throws -> Bool {
        let rows = try await client.query("SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = \(orderID))", logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }

    /// Records an invalid event that names an existing order as a conflict (no result event).
    public func rejectAsConflict(_ rejection: OrderRejection, payload: [UInt8], origin: EventOrigin) async throws {
        let orderID = rejection.orderID ?? ""
        let text = String(decoding: payload.prefix(OrderCreated.maxEventBytes), as: UTF8.self)
        let message = "order \(orderID) was already received; this later event is invalid (\(rejection.reason)) and was not charged"
        let dlqEventID = PaymentIdentity.deadLetterEventID(origin)
        try await client.query(
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
            """, logger: logger)
    }
}
