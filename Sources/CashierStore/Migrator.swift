public import Logging
public import PostgresNIO

/// Applies and checks the schema (`cashier migrate`).
///
/// Safe to run repeatedly and from several pods at once: every run takes one session-level
/// advisory lock, so concurrent runs queue behind each other and find the work done.
public struct Migrator: Sendable {
    /// An arbitrary constant naming Cashier's migration lock.
    private static let lockKey: Int64 = 0x6361_7368_6965_72

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public static var latestVersion: Int { Migrations.latestVersion }

    /// Brings the schema to the latest version; returns the versions applied by this run.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await StoreError.classifying { try await migrateLocked() }
    }

    private func migrateLocked() async throws -> [Int] {
        try await client.withConnection { connection in
            // A migration may rewrite a large table, and may wait for another migrator's lock:
            // no statement timeout on this connection while it migrates, and no lock timeout
            // while it waits for the other migrator.
            try await connection.query("SET statement_timeout = 0", logger: logger)
            try await connection.query("SET lock_timeout = 0", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
                // A step waits for a table lock at most 5 s (see `apply`): a DDL queued behind a
                // long transaction would otherwise block every worker's statements queued behind it.
                try await connection.query("SET lock_timeout = '5s'", logger: logger)
                let applied = try await applyPending(connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                try await connection.query("RESET statement_timeout", logger: logger)
                try await connection.query("RESET lock_timeout", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                _ = try? await connection.query("RESET statement_timeout", logger: logger)
                _ = try? await connection.query("RESET lock_timeout", logger: logger)
                throw error
            }
        }
    }

    private func applyPending(_ connection: PostgresConnection) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        let current = try await currentVersion(connection)
        var applied: [Int] = []
        for step in Migrations.steps where step.version > current {
            try await apply(step, connection)
            logger.info("applied migration \(step.version): \(step.name)")
            applied.append(step.version)
        }
        return applied
    }

    /// One step in one transaction. A step that waited its 5 s for a table lock is rolled back
    /// (so it queued nothing behind it for longer) and tried again, a few times, before the run
    /// fails with a one-line error naming what to do.
    private func apply(_ step: Migrations.Step, _ connection: PostgresConnection) async throws {
        let tries = 6
        for number in 1...tries {
            do {
                try await connection.withTransaction(logger: logger) { transaction in
                    for statement in step.statements {
                        try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await transaction.query(
                        "INSERT INTO schema_migrations (version, name) VALUES (\(step.version), \(step.name))", logger: logger)
                }
                return
            } catch {
                guard StoreError.classify(error).sqlState == "55P03" else { throw error }
                guard number < tries else {
                    throw StoreError(
                        .transient,
                        "migration \(step.version) (\(step.name)) waited for a table lock \(tries) times: another session holds it (see pg_locks); end that session or run `cashier migrate` again",
                        sqlState: "55P03")
                }
                logger.warning("migration \(step.version) waits for a table lock another session holds; trying again", metadata: ["try": "\(number)"])
                try await Task.sleep(for: .seconds(2))
            }
        }
    }

    private func currentVersion(_ connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query("SELECT coalesce(max(version), 0)::integer FROM schema_migrations", logger: logger)
        for try await version in rows.decode(Int.self) { return version }
        return 0
    }

    /// Fails with a one-line error unless the schema is exactly the version this build expects.
    public func requireCurrent() async throws {
        let version: Int = try await StoreError.classifying {
            try await client.withConnection { connection in
                let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
                for try await present in exists.decode(Bool.self) where !present { return 0 }
                return try await currentVersion(connection)
            }
        }
        if version < Migrations.latestVersion {
            throw StoreError(
                .schemaOutdated,
                "the database schema is at version \(version) but this build needs \(Migrations.latestVersion): run `cashier migrate` first")
        }
        if version > Migrations.latestVersion {
            throw StoreError(
                .schemaTooNew,
                "the database schema is at version \(version), newer than this build knows (\(Migrations.latestVersion)): deploy the newer cashier")
        }
    }
}
