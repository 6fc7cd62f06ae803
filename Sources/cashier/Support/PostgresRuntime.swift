import CashierStore
import Logging
import PostgresNIO

enum PostgresRuntime {
    /// Runs `body` with a connected pool. An unusable database (unreachable, wrong password,
    /// unknown database) is a one-line start-up error, found by one direct connection first.
    static func with<T: Sendable>(
        url: String, _ configuration: PostgresClient.Configuration, logger: Logger,
        _ body: @Sendable @escaping (PostgresClient) async throws -> T
    ) async throws -> T {
        try await probe(url: url, configuration: configuration, logger: logger)
        // The pool reconnects by itself and logs each failed attempt; keep that out of the
        // operator's way (query failures still surface where they happen).
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(configuration: configuration, backgroundLogger: poolLogger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    private static func probe(url: String, configuration: PostgresClient.Configuration, logger: Logger) async throws {
        let target = "\(configuration.host ?? "?"):\(configuration.port ?? 5432)/\(configuration.database ?? "")"
        do {
            try await DatabaseURL.probe(url, logger: logger)
        } catch let error as PSQLError {
            throw CLIError("cannot use Postgres at \(target): \(describe(error)); check CASHIER_DATABASE_URL and that the server is up")
        } catch {
            throw CLIError("cannot use Postgres at \(target): \(error); check CASHIER_DATABASE_URL and that the server is up")
        }
    }

    /// PSQLError's description hides details on purpose; the server's message and SQLSTATE are
    /// safe to show.
    static func describe(_ error: PSQLError) -> String {
        if error.code == .server { return StoreError.classify(error).description }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }
}
