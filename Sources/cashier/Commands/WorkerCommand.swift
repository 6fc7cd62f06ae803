import ArgumentParser
import CashierOps
import CashierStore
import CashierWorker
import Logging

struct WorkerCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume orders.created, charge through the channels, record in Postgres, publish results.",
        discussion: "Stops on SIGTERM/SIGINT: finishes in-flight charges (up to 25 s), commits, flushes, exits 0.")

    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var channels: ChannelOptions
    @OptionGroup var retry: RetryOptions
    @OptionGroup var http: HTTPOptions

    @Option(name: .customLong(Settings.groupID.flag!), help: Settings.groupID.flagHelp(default: WorkerConfiguration().groupID))
    var groupID: String?

    @Option(name: .customLong(Settings.concurrency.flag!), help: Settings.concurrency.flagHelp)
    var concurrency: Int?

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let logger = Logger(label: "cashier.worker")
        // Validate everything before any connection is made.
        let kafkaConfiguration = try kafka.configuration(settings)
        let postgres = try database.resolve(settings)
        let resolvedChannels = try channels.resolve(settings)
        var configuration = WorkerConfiguration()
        configuration.topics = try kafka.topics(settings)
        configuration.groupID = try settings.value(Settings.groupID, flag: groupID, default: configuration.groupID)
        configuration.concurrency = try settings.value(Settings.concurrency, flag: concurrency)
        configuration.retryPolicy = try retry.policy(settings)
        configuration.lookupPolicy = try retry.lookupPolicy(settings, channelTimeout: resolvedChannels.timeout)
        configuration.lease = try retry.lease(settings)
        configuration.breakerMaxWait = resolvedChannels.breakerMaxWait
        configuration.workerName = WorkerAssembly.workerName()
        try await WorkerAssembly.run(kafka: kafkaConfiguration, postgres: postgres, channels: resolvedChannels, roles: [.orders(configuration)],
            http: try http.listener(settings), logger: logger)
    }
}
