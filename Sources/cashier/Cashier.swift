import ArgumentParser
import CashierStore

@main
struct Cashier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cashier",
        abstract: "Takes the payments of the paid-knowledge platform: Kafka orders in, channel charges, Postgres records, result events out.",
        discussion: "Configuration comes from flags, CASHIER_* environment variables, or --config FILE (NAME=value lines); in that order of precedence. See README.md.",
        subcommands: [
            MigrateCommand.self, WorkerCommand.self, RetryWorkerCommand.self, NotifyServerCommand.self, DlqCommand.self, StatsCommand.self,
            ConfigCommand.self, KafkaDevCommand.self, SandboxCommand.self, PublishCommand.self, DevCommand.self,
        ])

    /// Takes `--config FILE` out of the arguments (and loads it) before the usual parsing.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        do {
            try ConfigFile.apply(&arguments)
            var command = try parseAsRoot(arguments)
            if var asynchronous = command as? any AsyncParsableCommand {
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
