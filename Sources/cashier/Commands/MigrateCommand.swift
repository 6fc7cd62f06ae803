import ArgumentParser
import CashierOps
import CashierStore
import Logging

struct MigrateCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the Postgres schema; safe to run repeatedly and concurrently.")

    @OptionGroup var database: DatabaseOptions

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let logger = Logger(label: "cashier.migrate")
        let postgres = try database.resolve(settings)
        let applied = try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).migrate()
        }
        print(applied.isEmpty
            ? "schema is current (version \(Migrator.latestVersion))"
            : "applied migrations \(applied.map(String.init).joined(separator: ", ")); schema is at version \(Migrator.latestVersion)")
    }
}
