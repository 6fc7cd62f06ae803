import PostgresNIO

/// An error from the Postgres store. Never carries SQL text, bound parameters or connection
/// secrets: a server error is described by its SQLSTATE and the server's message.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidURL, schemaOutdated, schemaTooNew, database, transient, invariant, timeout
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public static let invalidURL = Code(.invalidURL)
        public static let schemaOutdated = Code(.schemaOutdated)
        public static let schemaTooNew = Code(.schemaTooNew)
        /// The statement cannot succeed as it is (bad data, a constraint): retrying it is useless.
        public static let database = Code(.database)
        /// The database is away or busy (connection lost, restarting, serialization failure,
        /// deadlock): the same statement may succeed in a moment.
        public static let transient = Code(.transient)
        /// A statement did not finish within its deadline (treated as transient).
        public static let timeout = Code(.timeout)
        /// The database holds something the code says cannot happen: a bug, never retried.
        public static let invariant = Code(.invariant)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// The server's SQLSTATE, when the server answered with an error.
    public let sqlState: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    /// Whether the same step may succeed if tried again after a pause.
    public var isRetryable: Bool { code == .transient || code == .timeout }

    /// Whether the statement lost a fight for a row lock (it waited `lock_timeout` for a row
    /// another session holds, or was chosen as a deadlock's victim): a batch failing so is
    /// split, so that the rows nobody holds are written now and only the held one waits.
    public var isLockContention: Bool { sqlState == "55P03" || sqlState == "40P01" }

    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

    /// Classifies any error a statement threw (DESIGN.md section 6): transient faults are
    /// retried with backoff, everything else is the record's own problem and must not hold
    /// the line.
    ///
    /// PostgresNIO's own errors describe themselves as "PSQLError – Generic description…" on
    /// purpose (their debug text holds the query and its parameters): never interpolate one
    /// into a log line or message; classify it and use the `StoreError`'s description.
    public static func classify(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        // `withTransaction` wraps what went wrong (in its body, or its BEGIN or COMMIT): the
        // cause is classified, or every failed transaction would look like a lost connection
        // and a record's own bad data would be retried for ever.
        if let error = error as? PostgresTransactionError, let cause = error.closureError ?? error.commitError ?? error.beginError {
            return classify(cause)
        }
        if let error = error as? PSQLError { return classify(error) }
        if let error = error as? PostgresDecodingError { return classify(error) }
        if error is CancellationError { return StoreError(.transient, "cancelled") }
        // Channel and socket errors below the Postgres protocol: the connection went away.
        return StoreError(.transient, "database connection failed: \(error)")
    }

    static func classify(_ error: PSQLError) -> StoreError {
        if error.code == .server {
            let state = error.serverInfo?[.sqlState] ?? "?????"
            let message = error.serverInfo?[.message] ?? "server error"
            return StoreError(transientStates.contains(state) || transientClasses.contains(String(state.prefix(2))) ? .transient : .database,
                              "postgres: \(message)", sqlState: state)
        }
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed, .queryCancelled:
            return StoreError(.transient, "postgres connection lost (\(error.code)\(cause(error)))")
        default:
            // Protocol-level surprises (unexpected messages, TLS, authentication): the connection's
            // fault, not the record's, so retried like a lost connection, never made a poison record.
            return StoreError(.transient, "postgres client error (\(error.code)\(cause(error)))")
        }
    }

    /// Runs `body` (statements outside `Database`), its error classified.
    static func classifying<T>(_ body: () async throws -> T) async throws(StoreError) -> T {
        do {
            return try await body()
        } catch {
            throw classify(error)
        }
    }

    /// `error` fit to be shown or logged: one of PostgresNIO's errors as its classification
    /// (SQLSTATE and server message), anything else unchanged.
    public static func presentable(_ error: any Error) -> any Error {
        error is PSQLError || error is PostgresDecodingError ? classify(error) : error
    }

    /// The text of `presentable(error)`, for log lines.
    public static func describe(_ error: any Error) -> String {
        "\(presentable(error))"
    }

    /// A decoded column of an unexpected type: names the column and the types, never its bytes.
    static func classify(_ error: PostgresDecodingError) -> StoreError {
        StoreError(.database, "postgres: column \(error.columnName) (\(error.postgresType)) cannot be read as \(error.targetType) (\(error.code))")
    }

    /// ": reason" of the error below a PSQLError (a socket's "Connection refused"), when it is
    /// not itself one of PostgresNIO's errors, which carry queries.
    private static func cause(_ error: PSQLError) -> String {
        guard let underlying = error.underlying, !(underlying is PSQLError), !(underlying is PostgresDecodingError) else { return "" }
        return ": \(underlying)"
    }

    /// SQLSTATE classes that mean "try again": connection exceptions, insufficient resources,
    /// operator intervention (shutdown, restart, cannot connect now), system errors; and the
    /// environment's faults, which no record causes and a person fixes (authorization `28`,
    /// an unknown database `3D`, a missing table or column, a revoked privilege `42`): they hold
    /// the line, alerted by its lag, rather than reject every order that meets them as poison.
    private static let transientClasses: Set<String> = ["08", "53", "57", "58", "28", "3D", "42"]
    /// serialization_failure, deadlock_detected, lock_not_available, read-only while a
    /// replica is promoted.
    private static let transientStates: Set<String> = ["40001", "40P01", "55P03", "25006"]
}
