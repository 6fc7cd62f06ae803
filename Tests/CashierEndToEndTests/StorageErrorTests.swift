import CashierStore
import Foundation
import Logging
import PostgresNIO
import Testing

/// Storage errors name their SQLSTATE and the server's message, never PostgresNIO's
/// "PSQLError – Generic description…", in logs and in command-line errors alike.
@Suite(.enabled(if: Pipeline.isAvailable)) struct StorageErrorTests {
    static let generic = "Generic description"

    /// Runs `body` with a client of its own on `url` (no shared pipeline needed).
    func withClient<T: Sendable>(_ url: String, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try DatabaseURL.configuration(url), backgroundLogger: Logger(label: "storage-errors"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    @Test func aServerErrorIsDescribedBySQLStateAndMessage() async throws {
        try await withClient(Pipeline.databaseURL!) { client in
            do {
                _ = try await client.query("SELECT * FROM no_such_table_here", logger: Logger(label: "t")).collect()
                Issue.record("the statement should fail")
            } catch {
                #expect("\(error)".contains(Self.generic), "PostgresNIO's own text hides everything")
                let classified = StoreError.classify(error)
                #expect(classified.sqlState == "42P01")
                #expect(classified.description == "postgres: relation \"no_such_table_here\" does not exist (SQLSTATE 42P01)")
                #expect(StoreError.describe(error) == classified.description)
                // A missing table is the environment's fault, not the record's: it holds the line.
                #expect(classified.isRetryable)
            }
            // Through the store's own path the error comes out classified already.
            let database = Database(client: client, logger: Logger(label: "t"))
            await #expect(throws: StoreError.self) { try await database.rows("SELECT 1/0") }
            do { try await database.rows("SELECT 1/0") } catch { #expect("\(error)" == "postgres: division by zero (SQLSTATE 22012)") }
            // Inside a transaction too: its wrapper is not mistaken for a lost connection.
            do {
                try await database.transaction { connection in _ = try await connection.query("SELECT 1/0", logger: Logger(label: "t")) }
                Issue.record("the transaction should fail")
            } catch {
                let classified = StoreError.classify(error)
                #expect(classified.sqlState == "22012" && !classified.isRetryable, "\(classified)")
            }
            do {
                try await database.transaction { _ in throw StoreError(.invariant, "a bug") }
            } catch {
                let classified = StoreError.classify(error)
                #expect(classified.code == .invariant && !classified.isRetryable, "\(classified)")
            }
        }
    }

    @Test func aColumnOfAnUnexpectedTypeIsNamedAndNotRetried() async throws {
        try await withClient(Pipeline.databaseURL!) { client in
            let rows = try await Database(client: client, logger: Logger(label: "t")).rows("SELECT 'text'::text AS label")
            do {
                _ = try rows[0].decode(Int.self)
                Issue.record("decoding text as Int should fail")
            } catch {
                #expect("\(error)".contains(Self.generic))
                let classified = StoreError.classify(error)
                #expect(!classified.isRetryable, "a decoding error is a bug, not a connection problem")
                #expect(classified.description.contains("label") && !classified.description.contains(Self.generic), "\(classified)")
            }
        }
    }

    @Test func commandsShowTheServerMessageOfAStorageError() async throws {
        // A database whose schema claims to be current but lacks its tables.
        let name = "cashier_hollow_\(UInt32.random(in: 0...UInt32.max))"
        let url = Pipeline.databaseURL!
        try await withClient(url) { client in
            _ = try await client.query("CREATE DATABASE \(unescaped: name)", logger: Logger(label: "t"))
        }
        var components = URLComponents(string: url)!
        components.path = "/" + name
        let hollow = components.string!
        try await withClient(hollow) { client in
            _ = try await client.query(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: Logger(label: "t"))
            _ = try await client.query(
                "INSERT INTO schema_migrations (version, name) VALUES (\(Migrator.latestVersion), 'hollow')", logger: Logger(label: "t"))
        }
        for (arguments, table) in [(["dlq", "list"], "dead_letters"), (["dlq", "show", "1"], "dead_letters"), (["stats"], "payments")] {
            let (status, _, stderr) = try await CashierProcess.run(arguments + ["--database-url", hollow])
            #expect(status != 0)
            #expect(stderr.contains("relation \"\(table)\" does not exist (SQLSTATE 42P01)"), "\(arguments): \(stderr)")
            #expect(!stderr.contains(Self.generic), "\(arguments): \(stderr)")
        }
    }
}
