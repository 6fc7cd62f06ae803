import ArgumentParser
import CashierStore
import PostgresNIO

struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong(Settings.databaseURL.flag!), help: Settings.databaseURL.flagHelp)
    var databaseURL: String?

    /// The URL (needed again for the start-up probe) and the pool configuration.
    func resolve(_ settings: SettingsReader) throws -> (url: String, configuration: PostgresClient.Configuration) {
        guard let url = try settings.optionalValue(Settings.databaseURL, flag: databaseURL) else {
            throw CLIError("no database given: pass --database-url postgres://USER:PASS@HOST:PORT/DB or set CASHIER_DATABASE_URL")
        }
        do {
            return (url, try DatabaseURL.configuration(url))
        } catch {
            throw CLIError(error.description)
        }
    }
}
