import ArgumentParser
import CashierWorker
import Logging

struct RetryWorkerCommand: AsyncParsableCommand {
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

    @Option(name: .customLong("group-id"), help: "Consumer group (env CASHIER_GROUP_ID, default cashier-retry; give each Deployment its own).")
    var groupID: String?

    @Option(help: "Retries running at once in this process (default 64).")
    var concurrency: Int?

    func run() async throws {
        LogSetup.bootstrap()
        let logger = Logger(label: "cashier.retry")
        let kafkaConfiguration = try kafka.configuration()
        let postgres = try database.resolve()
        let resolvedChannels = try channels.resolve()
        let configuration = try RetryWorkerCommand.configuration(
            topics: try kafka.topics(), groupID: groupID, concurrency: concurrency, retry: retry, channels: resolvedChannels)
        try await WorkerAssembly.run(
            kafka: kafkaConfiguration, postgres: postgres, channels: resolvedChannels, roles: [.retries(configuration)],
            http: try http.listener(), logger: logger)
    }

    static func configuration(
        topics: Topics, groupID: String?, concurrency: Int?, retry: RetryOptions, channels: ChannelOptions.Resolved
    ) throws -> RetryWorkerConfiguration {
        var configuration = RetryWorkerConfiguration()
        configuration.topics = topics
        configuration.groupID = groupID ?? Env.value("CASHIER_GROUP_ID") ?? configuration.groupID
        configuration.concurrency = try Env.int(concurrency, "CASHIER_RETRY_CONCURRENCY", default: 64, range: 1...4096, flagName: "--concurrency")
        configuration.retryPolicy = try retry.policy()
        configuration.lookupPolicy = try retry.lookupPolicy(channelTimeout: channels.timeout)
        configuration.lease = try retry.lease()
        configuration.sweepEvery = .milliseconds(try Env.int(nil, "CASHIER_SWEEP_MS", default: 5000, range: 100...600_000, flagName: ""))
        configuration.workerName = "retry:" + WorkerAssembly.workerName()
        return configuration
    }
}
