import ArgumentParser
import CashierOps
import CashierSandbox
import CashierStore
import CashierWorker
import Foundation
import Hummingbird
import Kafka
import Logging

struct DevCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Everything on embedded defaults in one process: kafka-dev, sandbox (card, Alipay, WeChat Pay), worker, retry worker, notify server; against CASHIER_DATABASE_URL.",
        discussion: "Migrates the database, writes development keys (unless --keys-dir), then prints bootstrap=HOST:PORT, sandbox=URL and notify=URL on stdout. Stop with SIGINT/SIGTERM.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup var channels: ChannelOptions
    @OptionGroup var retry: RetryOptions
    @OptionGroup var http: HTTPOptions

    @Option(help: "Partitions per topic of the embedded broker.")
    var partitions: Int = 6
    @Option(help: "Also write the broker's HOST:PORT to this file.")
    var bootstrapFile: String?
    @Option(help: "Orders processed at once.")
    var concurrency: Int = 64

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let logger = Logger(label: "cashier.dev")
        let postgres = try database.resolve(settings)
        var sandboxConfiguration = try sandbox.configuration()
        let sandboxListener = Listener.sandbox(host: sandbox.host, port: sandbox.port)
        let listener = try http.listener(settings, default: 0)
        try await sandboxListener.ensureAvailable()
        try await listener.ensureAvailable()
        var configuration = WorkerConfiguration()
        configuration.retryPolicy = try retry.policy(settings)
        // The order worker only writes the first lookup's due time; the retry worker (below) judges lookups.
        configuration.lookupPolicy = try retry.lookupPolicy(settings, channelTimeout: .seconds(10))
        configuration.lease = try retry.lease(settings)
        configuration.concurrency = concurrency
        configuration.workerName = WorkerAssembly.workerName()

        _ = try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).migrate()
        }
        let broker = try DevBroker.start(partitions: partitions, topics: configuration.topics, bootstrapFile: bootstrapFile)
        // The mock cluster holds an empty fetch for the full fetch.wait.max.ms even when data
        // arrives meanwhile, so a short wait keeps order-to-result latency low in development.
        let kafka = KafkaConfiguration(
            bootstrapServers: broker.bootstrapServers, options: [("session.timeout.ms", "10000"), ("fetch.wait.max.ms", "10")])

        // Development keys for Alipay and WeChat Pay: the sandbox holds the channels' half.
        let keysDirectory = sandbox.keysDir ?? (NSTemporaryDirectory() + "cashier-dev-keys-\(ProcessInfo.processInfo.processIdentifier)")
        // Generated keys live as long as this process: they are removed when it ends.
        defer { if sandbox.keysDir == nil { try? FileManager.default.removeItem(atPath: keysDirectory) } }
        if sandbox.keysDir == nil {
            try SandboxKeys.generate(into: keysDirectory)
            sandboxConfiguration.keys = try SandboxOptions.keys(from: keysDirectory)
        }

        // The sandbox must listen before the worker's first charge, and the notify server
        // before the first WeChat deduction names it: start both, learn their ports.
        let sandboxPorts = AsyncStream<Int>.makeStream()
        let app = try SandboxServer(configuration: sandboxConfiguration).application(
            host: sandbox.host, port: sandbox.port, logger: Logger(label: "cashier.sandbox")
        ) { port in
            sandboxPorts.continuation.yield(port)
        }
        let notifyPorts = AsyncStream<Int>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sandboxListener.explaining { try await app.run() } }
            var ports = sandboxPorts.stream.makeAsyncIterator()
            guard let port = await ports.next() else { throw CLIError("the sandbox did not start") }
            let sandboxURL = "http://\(sandbox.host):\(port)"
            Output.line("sandbox=\(sandboxURL)")

            // Keys are loaded once; the notify URL is filled in when the notify server listens.
            var resolvedChannels = try channels.resolve(settings, sandbox: (sandboxURL, keysDirectory, "http://notify.invalid"))
            let keys = resolvedChannels.notificationKeys
            let host = sandbox.host
            group.addTask {
                try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
                    let receiver = NotificationReceiver(
                        store: PaymentStore(client: client, logger: logger, worker: "notify"), keys: keys, logger: Logger(label: "cashier.notify"))
                    try await NotifyServer.application(receiver: receiver, host: host, port: 0, logger: logger) { port in
                        notifyPorts.continuation.yield(port)
                    }.run()
                }
            }
            var notified = notifyPorts.stream.makeAsyncIterator()
            guard let notifyPort = await notified.next() else { throw CLIError("the notify server did not start") }
            let notifyURL = "http://\(host):\(notifyPort)"
            Output.line("notify=\(notifyURL)")

            resolvedChannels.setNotifyBaseURL(notifyURL)
            let retries = try RetryWorkerCommand.configuration(
                settings, topics: configuration.topics, groupID: nil, concurrency: concurrency, retry: retry, channels: resolvedChannels)
            try await WorkerAssembly.run(
                kafka: kafka, postgres: postgres, channels: resolvedChannels, roles: [.orders(configuration), .retries(retries)],
                http: listener, logger: logger)
            // The workers have shut down (SIGTERM/SIGINT): stop the sandbox and notify server too.
            group.cancelAll()
        }
        withExtendedLifetime(broker) {}
    }
}
