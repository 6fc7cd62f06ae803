import ArgumentParser

@main
struct Cashier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cashier",
        abstract: "Takes the payments of the paid-knowledge platform: Kafka orders in, channel charges, Postgres records, result events out.",
        discussion: "Configuration comes from flags or CASHIER_* environment variables; flags win. See README.md.",
        subcommands: [
            MigrateCommand.self, WorkerCommand.self, RetryWorkerCommand.self, DlqCommand.self, NotifyServerCommand.self, StatsCommand.self, KafkaDevCommand.self, SandboxCommand.self, PublishCommand.self, DevCommand.self,
        ])
}
