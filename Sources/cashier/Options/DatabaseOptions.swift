import ArgumentParser
import CashierStore
import PostgresNIO

struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "postgres://user:pass@host:port/db[?sslmode=…] (env CASHIER_DATABASE_URL).")
    var databaseURL: String?

    /// The URL (needed again for the start-up probe) and the pool configuration.
    func resolve() throws -> (url: String, configuration: PostgresClient.Configuration) {
        guard let url = databaseURL ?? Env.value("CASHIER_DATABASE_URL") else {
            throw CLIError("no database given: pass --database-url postgres://USER:PASS@HOST:PORT/DB or set CASHIER_DATABASE_URL")
        }
        do {
            return (url, try DatabaseURL.configuration(url))
        } catch {
            throw CLIError(error.description)
        }
    }
}
