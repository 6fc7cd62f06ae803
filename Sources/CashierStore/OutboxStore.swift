public import Logging
public import PostgresNIO

/// The outbox: messages recorded with the outcome they describe, published afterwards at
/// least once, in the order they were recorded.
public struct OutboxStore: Sendable {
    /// Bounds a whole batch, publishing included (the producer's delivery timeout is 30 s).
    let database: Database
    var logger: Logger { database.logger }

    /// One relay publishes at a time (a transaction-scoped advisory lock), so the outbox goes
    /// out in id order even with a relay in every pod: two results of one order can never be
    /// published reversed by two relays holding neighbouring batches.
    private static let relayLock: Int64 = 0x6361_7368_6f75_74

    public init(client: PostgresClient, logger: Logger) {
        self.database = Database(client: client, logger: logger, deadline: .seconds(45))
    }

    /// Rows not yet published (the relay's backlog).
    public func backlog() async throws -> Int {
        try await database.rows("SELECT count(*)::integer FROM outbox WHERE published_at IS NULL").first?.decode(Int.self) ?? 0
    }

    /// Takes the relay lock, reads up to `limit` unpublished records in id order, lets `publish`
    /// send them, and marks the ones it returns as published, all in one transaction: if the
    /// process dies midway, the lock vanishes and the records are sent again later.
    /// Returns the number of records published (0 also when another relay holds the lock).
    public func publishBatch(limit: Int, _ publish: @Sendable @escaping ([OutboxRecord]) async throws -> [Int64]) async throws -> Int {
        let logger = self.logger
        return try await database.transaction { connection in
            let locked = try await connection.query(Self.lockQuery, logger: logger)
            for try await (held, _, _) in locked.decode((Bool, String, String).self) where !held { return 0 }
            let rows = try await connection.query(Self.unpublishedQuery(limit: limit), logger: logger)
            var records: [OutboxRecord] = []
            for try await (id, kind, key, payload, traceparent) in rows.decode((Int64, String, String, String, String?).self) {
                guard let kind = OutboxRecord.Kind(rawValue: kind) else {
                    throw StoreError(.invariant, "outbox record \(id) has unknown kind \(kind)")
                }
                records.append(OutboxRecord(id: id, kind: kind, key: key, payload: payload, traceparent: traceparent))
            }
            guard !records.isEmpty else { return 0 }
            let sent = try await publish(records)
            if !sent.isEmpty {
                try await connection.query("UPDATE outbox SET published_at = now() WHERE id = ANY(\(sent))", logger: logger)
            }
            return sent.count
        }
    }

    /// Takes the relay lock for this transaction, and leaves the planner one way to read the
    /// outbox in it: an index scan (of `outbox_unpublished`, the only index that fits).
    ///
    /// Marking a record published takes it out of `outbox_unpublished`, but its entry stays in
    /// the index until the table is vacuumed. A bitmap scan, which Postgres chose once the
    /// entries piled up, visits the heap row of every one of them on every batch (measured in
    /// the bench: 19,459 entries and 1,332 heap pages read for 30 live rows, 2.4 ms a batch);
    /// an index scan marks each dead entry, so later batches step over it without the heap.
    /// A sequential scan would read the whole outbox, which only grows.
    static var lockQuery: PostgresQuery {
        """
        SELECT pg_try_advisory_xact_lock(\(relayLock)),
               set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)
        """
    }

    /// The oldest `limit` unpublished records, in id order.
    static func unpublishedQuery(limit: Int) -> PostgresQuery {
        """
        SELECT id, kind, message_key, payload, traceparent FROM outbox
        WHERE published_at IS NULL
        ORDER BY id
        LIMIT \(limit)
        """
    }
}
