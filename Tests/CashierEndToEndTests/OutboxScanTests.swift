import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
@testable import CashierStore

/// The relay's read of the outbox, against a real Postgres in the state the bench left it in:
/// thousands of published records whose entries are still in `outbox_unpublished` (nothing has
/// vacuumed the table yet), a few live records, statistics that know how few.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct OutboxScanTests {
    let logger = Logger(label: "outbox-scan-test")

    @Test func theRelayReadsTheOutboxThroughItsIndexWhateverThePlannerWouldPrefer() async throws {
        try await withDatabase { db in
            try await db.query(
                """
                INSERT INTO outbox (event_id, kind, message_key, payload)
                SELECT 'old_' || n, 'result', 'ord_' || n, repeat('x', 300) FROM generate_series(1, 20000) AS n
                """, logger: logger)
            try await db.query("UPDATE outbox SET published_at = now()", logger: logger)
            try await db.query(
                """
                INSERT INTO outbox (event_id, kind, message_key, payload)
                SELECT 'new_' || n, 'result', 'ord_new_' || n, '{}' FROM generate_series(1, 30) AS n
                """, logger: logger)
            try await db.query("ANALYZE outbox", logger: logger)

            // Costs that make Postgres shun index scans (random reads priced far above
            // sequential ones): on its own it reads the outbox some other way...
            let unguided = try await plan(of: OutboxStore.unpublishedQuery(limit: 500), db, guided: false)
            #expect(!unguided.contains("Index Scan using"), "\(unguided)")
            // ...but in the relay's transaction, after its lock statement, through the index.
            let guided = try await plan(of: OutboxStore.unpublishedQuery(limit: 500), db, guided: true)
            #expect(guided.contains("Index Scan using outbox_unpublished"), "\(guided)")
            #expect(!guided.contains("Bitmap") && !guided.contains("Seq Scan"), "\(guided)")

            // And the relay publishes exactly the live records, oldest first.
            let outbox = OutboxStore(client: db, logger: logger)
            let seen = Mutex<[String]>([])
            let published = try await outbox.publishBatch(limit: 500) { records in
                seen.withLock { $0 = records.map(\.key) }
                return records.map(\.id)
            }
            #expect(published == 30)
            #expect(seen.withLock { $0 } == (1...30).map { "ord_new_\($0)" })
            #expect(try await outbox.backlog() == 0)

            // The settings ended with the relay's transaction: the pool's one connection, which
            // ran it, plans everything else as before.
            let settings = try await db.query(
                "SELECT current_setting('enable_bitmapscan'), current_setting('enable_seqscan')", logger: logger).collect()
            let (bitmap, sequential) = try settings[0].decode((String, String).self)
            #expect(bitmap == "on" && sequential == "on")
        }
    }

    /// The plan of `query` with random reads priced high, inside a transaction that first ran
    /// the relay's lock statement (`guided`) or not; rolled back, so nothing else sees either.
    private func plan(of query: PostgresQuery, _ db: PostgresClient, guided: Bool) async throws -> String {
        try await db.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SET LOCAL random_page_cost = 1000", logger: logger)
            if guided { _ = try await connection.query(OutboxStore.lockQuery, logger: logger).collect() }
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds), logger: logger).collect()
            try await connection.query("ROLLBACK", logger: logger)
            return try rows.map { try $0.decode(String.self) }.joined(separator: "\n")
        }
    }

    private func withDatabase(_ body: (PostgresClient) async throws -> Void) async throws {
        let url = try await Pipeline.migratedDatabase("outbox_scan")
        // One connection, so a setting that outlived the relay's transaction would show.
        var configuration = try DatabaseURL.configuration(url)
        configuration.options.maximumConnections = 1
        let db = PostgresClient(configuration: configuration, backgroundLogger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await db.run() }
            try await body(db)
            group.cancelAll()
        }
    }
}
