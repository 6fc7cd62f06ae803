import ArgumentParser
import CashierOps
import CashierStore
import Foundation
import Logging

struct StatsCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Success and failure rates per channel, volumes and amounts per currency, from Postgres.",
        discussion: "Rates are over payments settled in the period: success = succeeded / settled, failure = failed / settled.")

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The period: a duration back from now (15m, 1h, 7d) or a timestamp (default 1h).")
    var since: String = "1h"
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let start = try SinceArgument.parse(since)
        let postgres = try database.resolve(settings)
        let logger = Logger(label: "cashier.stats")
        let (channels, currencies, rejected) = try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).requireCurrent()
            let store = StatsStore(client: client, logger: logger)
            return (try await store.channels(since: start), try await store.currencies(since: start), try await store.rejected(since: start))
        }
        Output.line(json ? StatsFormat.json(channels, currencies, rejected, since: start) : StatsFormat.table(channels, currencies, rejected, since: start))
    }
}
