import Metrics
import PostgresNIO
import Synchronization

/// A statement of the hot path whose text never changes (only its bound values do), run as a
/// named prepared statement: Postgres parses, analyses and plans it once per connection
/// instead of on every call (planning alone took 1.1 ms per batched accept, measured with
/// `pg_stat_statements` at 1,000 orders/s).
///
/// Only a statement whose best plan does not depend on the tables' sizes may be one: after
/// five runs Postgres may keep one generic plan for good (until the next ANALYZE), made while
/// the tables were small. The batched settle (`moveTogether`) is not one: prepared, its kept
/// plan scanned `payments` and `payment_attempts` whole on every batch as they grew, and
/// the bench's first scenario halved.
///
/// `sql` is the text of the statement's `PostgresQuery` built with empty inputs: every value
/// in it is a bind parameter, so the text is the same for every batch (checked on every run:
/// a debug build stops, a release build runs that query unprepared and logs an error).
protocol HotStatement {
    static var sql: String { get }
}

/// PostgresNIO's prepared statement carrying the binds of one `PostgresQuery` of `Statement`.
struct PreparedHotStatement<Statement: HotStatement>: PostgresPreparedStatement {
    /// Short and distinct: Postgres cuts statement names at 63 bytes.
    static var name: String { "cashier_\(Statement.self)" }
    static var sql: String { Statement.sql }
    let binds: PostgresBindings

    func makeBindings() -> PostgresBindings { binds }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension Database {
    /// Runs `query`, which must be `Statement`'s text, as `Statement`'s prepared statement.
    ///
    /// PostgresNIO remembers a failed preparation on its connection and answers every later
    /// execution there with that same error, at once (a prepare that met `lock_timeout` behind
    /// a migration would do it for good). So a server error that came back without any wait,
    /// timed from when the connection was had, is answered by running the statement once more
    /// the ordinary way on the same connection: a statement that failed on the server was
    /// rolled back (each runs in its own transaction), so running it again is safe, and a
    /// genuinely bad batch fails again there, as quickly, with its real error.
    ///
    /// An error that came after a real wait (a row lock or `statement_timeout` waited out, a
    /// slow server) is the batch's answer as it is: it is not waited out a second time, so the
    /// group commit splits the batch at once and one deadline still bounds each statement.
    /// A client-side timeout or a lost connection is not retried here either: whether it
    /// committed is unknown, and the caller decides.
    ///
    /// Each rerun is counted in `cashier_prepared_statement_reruns_total{statement,sqlstate}`:
    /// a connection whose preparation failed keeps rerunning, at the unprepared cost, and a
    /// pooler in front of Postgres that loses named statements would show up there too.
    @discardableResult
    func rows<Statement: HotStatement>(_ query: PostgresQuery, preparedAs _: Statement.Type) async throws(StoreError) -> [PostgresRow] {
        guard query.sql == Statement.sql else {
            // A builder that put an input into the text (not a bind): the prepared text would
            // not be this query. Tests stop here; a pod runs the query itself, correctly.
            assertionFailure("\(Statement.self)'s text changed with its inputs")
            if !hotStatementMismatchLogged.exchange(true, ordering: .relaxed) {
                logger.error("\(Statement.self)'s text changed with its inputs; running it unprepared (logged once)")
            }
            return try await rows(query)
        }
        let client = self.client
        let logger = self.logger
        let statement = PreparedHotStatement<Statement>(binds: query.binds)
        return try await Self.bounded(deadline) {
            try await client.withConnection { connection in
                let started = ContinuousClock.now
                do {
                    var rows: [PostgresRow] = []
                    for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
                    return rows
                } catch let error as PSQLError where error.code == .server && ContinuousClock.now - started < Self.noWait {
                    let sqlState = error.serverInfo?[.sqlState] ?? "unknown"
                    logger.debug("prepared \(Statement.self) failed at once (\(sqlState)); running it unprepared")
                    Counter(label: "cashier_prepared_statement_reruns_total", dimensions: [("statement", "\(Statement.self)"), ("sqlstate", sqlState)]).increment()
                    return try await connection.query(query, logger: logger).collect()
                }
            }
        }
    }

    /// Longer than a remembered failure takes to come back, far shorter than `lock_timeout`
    /// or a deadlock check (1 s).
    private static let noWait: Duration = .milliseconds(300)
}

/// Whether a hot statement's changed text was logged (once per process: it would be every batch).
private let hotStatementMismatchLogged = Atomic<Bool>(false)
