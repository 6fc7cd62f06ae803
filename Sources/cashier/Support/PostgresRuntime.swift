import CashierStore
import Logging
import PostgresNIO

enum PostgresRuntime {
    /// Runs `body` with a connected client; fails with one line if Postgres cannot be reached.
    static func with<T: Sendable>(
        _ configuration: PostgresClient.Configuration, logger: Logger, _ body: @Sendable @escaping (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            try await reachable(client, configuration: configuration, logger: logger)
            return try await body(client)
        }
    }

    /// A first query with a deadline: an unreachable database is a start-up error, not a hang.
    static func reachable(_ client: PostgresClient, configuration: PostgresClient.Configuration, logger: Logger) async throws {
        let target = "\(configuration.host ?? "?"):\(configuration.port ?? 5432)"
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await client.query("SELECT 1", logger: logger)
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(15))
                return false
            }
            do {
                let answered = try await group.next() ?? false
                group.cancelAll()
                guard answered else { throw CLIError("cannot reach Postgres at \(target) within 15 s; check CASHIER_DATABASE_URL and that the server is up") }
            } catch let error as CLIError {
                throw error
            } catch let error as PSQLError {
                throw CLIError("cannot use Postgres at \(target): \(PostgresRuntime.describe(error)); check CASHIER_DATABASE_URL")
            }
        }
    }

    /// PSQLError's description hides details on purpose; the server message is safe to show.
    static func describe(_ error: PSQLError) -> String {
        if let message = error.serverInfo?[.message] { return message }
        return "\(error.code)"
    }
}
