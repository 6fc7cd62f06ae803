import ArgumentParser
import CashierStore
import Foundation

@main
struct Cashier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cashier",
        abstract: "Takes the payments of the paid-knowledge platform: Kafka orders in, channel charges, Postgres records, result events out.",
        discussion: "Configuration comes from flags, CASHIER_* environment variables, or --config FILE (NAME=value lines); in that order of precedence. `cashier config check` lists every setting. See README.md.",
        subcommands: [
            MigrateCommand.self, WorkerCommand.self, RetryWorkerCommand.self, NotifyServerCommand.self, DlqCommand.self, StatsCommand.self,
            ConfigCommand.self, KafkaDevCommand.self, SandboxCommand.self, PublishCommand.self, DevCommand.self,
        ])

    /// Reads the settings once (environment, then `--config FILE` / `CASHIER_CONFIG`) before the
    /// usual parsing, and hands them to the command.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        do {
            let environment = ProcessInfo.processInfo.environment
            let file = try ConfigFile.path(taking: &arguments, environment: environment).map(ConfigFile.init(path:))
            var command = try parseAsRoot(arguments)
            // Only `config check` runs with a bad file: it lists every problem.
            if let file, !(command is ConfigCheckCommand) { _ = try file.checkedValues() }
            let settings = SettingsReader(environment: environment, file: file)
            if let configured = command as? any ConfiguredCommand {
                try await configured.run(with: settings)
            } else if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            // A store error that reached the top (dlq, stats, migrate, a start-up check) is
            // shown with its SQLSTATE and server message, not PostgresNIO's generic text.
            exit(withError: StoreError.presentable(error))
        }
    }
}
