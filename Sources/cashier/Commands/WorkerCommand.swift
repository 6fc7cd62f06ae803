import ArgumentParser
import CashierStore
import CashierWorker
import Logging

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume orders.created, charge through the channels, record in Postgres, publish results.",
        discussion: "Stops on SIGTERM/SIGINT: finishes in-flight charges (up to 25 s), commits, flushes, exits 0.")

    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var channels: ChannelOptions
    @OptionGroup var retry: RetryOptions
    @OptionGroup var http: HTTPOptions

    @Option(name: .customLong("group-id"), help: "Consumer group (env CASHIER_GROUP_ID, default cashier-payments).")
    var groupID: String?

    @Option(help: "Orders processed at once; never two of the same order (default 64).")
    var concurrency: Int?

    func run() async throws {
        LogSetup.bootstrap()
        let logger = Logger(label: "cashier.worker")
        // Validate everything before any connection is made.
        let kafkaConfiguration = try kafka.configuration()
        let postgres = try database.resolve()
        let resolvedChannels = try channels.resolve()
        var configuration = WorkerConfiguration()
        configuration.topics = try kafka.topics()
        configuration.groupID = groupID ?? Env.value("CASHIER_GROUP_ID") ?? configuration.groupID
        configuration.concurrency = try Env.int(concurrency, "CASHIER_CONCURRENCY", default: 64, range: 1...4096, flagName: "--concurrency")
        configuration.retryPolicy = try retry.policy()
        configuration.lookupPolicy = try retry.lookupPolicy(channelTimeout: resolvedChannels.timeout)
        configuration.lease = try retry.lease()
        configuration.breakerMaxWait = resolvedChannels.breakerMaxWait
        configuration.workerName = WorkerAssembly.workerName()
        try await WorkerAssembly.run(kafka: kafkaConfiguration, postgres: postgres, channels: resolvedChannels, roles: [.orders(configuration)],
            http: try http.listener(), logger: logger)
    }
}
