public import Logging
public import PostgresNIO

/// The outbox: messages recorded with the outcome they describe, published afterwards at
/// least once, in the order they were recorded.
public struct OutboxStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Locks up to `limit` unpublished records (skipping those another relay holds), lets
    /// `publish` send them, and marks the ones it returns as published, all in one transaction:
    /// if the process dies midway, the locks vanish and the records are sent again later.
    /// Returns the number of records published.
    /// Rows not yet published (the relay's backlog).
    public func backlog() async throws -> Int {
        let rows = try await client.query("SELECT count(*)::integer FROM outbox WHERE published_at IS NULL", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    public func publishBatch(limit: Int, _ publish: ([OutboxRecord]) async throws -> [Int64]) async throws -> Int {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT id, kind, message_key, payload, traceparent FROM outbox
                WHERE published_at IS NULL
                ORDER BY id
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
                """, logger: logger)
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
}
