import CashierCore
import Logging
import PostgresNIO

/// The `payments.dlq` announcement of a dead-letter row: its outbox row, written on the
/// caller's connection so it commits (or rolls back) with the row and the state change.
enum DeadLetterOutbox {
    /// Writes `event` to the outbox unless a message with `eventID` is there already.
    static func announce(
        _ event: DeadLetterEvent, eventID: String, key: String, traceparent: String? = nil, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO outbox (event_id, kind, message_key, payload, traceparent)
            VALUES (\(eventID), 'dlq', \(key), \(event.json()), \(traceparent))
            ON CONFLICT (event_id) DO NOTHING
            """, logger: logger)
    }

    /// The id of the dead letter `insert` wrote (a statement ending in `RETURNING id`), nil
    /// when it wrote none (the row was there already: it was announced then).
    static func insertedID(_ insert: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        let rows = try await connection.query(insert, logger: logger).collect()
        return try rows.first?.decode(Int64.self)
    }

    /// The id and source coordinates of the dead letter `insert` wrote (a statement ending in
    /// `RETURNING id, source_topic, source_partition, source_offset`), nil when it wrote none.
    static func inserted(_ insert: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> (id: Int64, source: ResultEvent.Source)? {
        let rows = try await connection.query(insert, logger: logger).collect()
        guard let row = rows.first else { return nil }
        let (id, topic, partition, offset) = try row.decode((Int64, String, Int32, Int64).self)
        return (id, ResultEvent.Source(topic: topic, partition: partition, offset: offset))
    }
}
