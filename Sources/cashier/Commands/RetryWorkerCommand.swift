import ArgumentParser
import CashierOps
import CashierWorker
import Logging

struct RetryWorkerCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry-worker",
        abstract: "Consume the retry topic and re-attempt failed charges with exponential backoff and the same idempotency key.",
        discussion: """
            Due times are kept in Postgres (set when a retry message is consumed), so a restart keeps every schedule; \
            due payments are claimed in due-time order with SKIP LOCKED, so any number of retry workers share the work. \
            Exhausted payments get a failed result, a dead letter and a payments.dlq message.
            """)

    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var channels: ChannelOptions
    @OptionGroup var retry: RetryOptions
    @OptionGroup var http: HTTPOptions

    @Option(name: .customLong(Settings.groupID.flag!), help: Settings.groupID.flagHelp(default: RetryWorkerConfiguration().groupID))
    var groupID: String?

    @Option(name: .customLong(Settings.retryConcurrency.flag!), help: Settings.retryConcurrency.flagHelp)
    var concurrency: Int?

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let logger = Logger(label: "cashier.retry")
        let kafkaConfiguration = try kafka.configuration(settings)
        let postgres = try database.resolve(settings)
        let resolvedChannels = try channels.resolve(settings)
        let configuration = try RetryWorkerCommand.configuration(
            settings, topics: try kafka.topics(settings), groupID: groupID, concurrency: concurrency, retry: retry, channels: resolvedChannels)
        try await WorkerAssembly.run(
            kafka: kafkaConfiguration, postgres: postgres, channels: resolvedChannels, roles: [.retries(configuration)],
            http: try http.listener(settings), logger: logger)
    }

    static func configuration(
        _ settings: SettingsReader, topics: Topics, groupID: String?, concurrency: Int?, retry: RetryOptions, channels: ChannelOptions.Resolved
    ) throws -> RetryWorkerConfiguration {
        var configuration = RetryWorkerConfiguration()
        configuration.topics = topics
        configuration.groupID = try settings.value(Settings.groupID, flag: groupID, default: configuration.groupID)
        configuration.concurrency = try settings.value(Settings.retryConcurrency, flag: concurrency)
        configuration.retryPolicy = try retry.policy(settings)
        configuration.lookupPolicy = try retry.lookupPolicy(settings, channelTimeout: channels.timeout)
        configuration.lease = try retry.lease(settings)
        configuration.sweepEvery = .milliseconds(try settings.value(Settings.sweep))
        configuration.workerName = "retry:" + WorkerAssembly.workerName()
        return configuration
    }
}
