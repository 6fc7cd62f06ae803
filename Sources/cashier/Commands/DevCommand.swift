import ArgumentParser
import CashierSandbox
import CashierStore
import CashierWorker
import Foundation
import Hummingbird
import Kafka
import Logging

struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Everything on embedded defaults in one process: kafka-dev, sandbox, worker, retry worker; against CASHIER_DATABASE_URL.",
        discussion: "Migrates the database, then prints bootstrap=HOST:PORT and sandbox=URL on stdout. Stop with SIGINT/SIGTERM.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup var channels: ChannelOptions
    @OptionGroup var retry: RetryOptions

    @Option(help: "Partitions per topic of the embedded broker.")
    var partitions: Int = 6
    @Option(help: "Also write the broker's HOST:PORT to this file.")
    var bootstrapFile: String?
    @Option(help: "Orders processed at once.")
    var concurrency: Int = 64

    func run() async throws {
        LogSetup.bootstrap()
        let logger = Logger(label: "cashier.dev")
        let postgres = try database.resolve()
        let sandboxConfiguration = try sandbox.configuration()
        var configuration = WorkerConfiguration()
        configuration.retryPolicy = try retry.policy()
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

        // The sandbox must listen before the worker's first charge: start it, learn its port.
        let listening = AsyncStream<Int>.makeStream()
        let app = SandboxServer(configuration: sandboxConfiguration).application(
            host: sandbox.host, port: sandbox.port, logger: Logger(label: "cashier.sandbox")
        ) { port in
            listening.continuation.yield(port)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var ports = listening.stream.makeAsyncIterator()
            guard let port = await ports.next() else { throw CLIError("the sandbox did not start") }
            let sandboxURL = "http://\(sandbox.host):\(port)"
            Output.line("sandbox=\(sandboxURL)")
            let resolvedChannels = try channels.resolve(sandboxURL: sandboxURL)
            let retries = try RetryWorkerCommand.configuration(
                topics: configuration.topics, groupID: nil, concurrency: concurrency, retry: retry, channels: resolvedChannels)
            try await WorkerAssembly.run(
                kafka: kafka, postgres: postgres, channels: resolvedChannels, roles: [.orders(configuration), .retries(retries)],
                logger: logger)
            // The worker has shut down (SIGTERM/SIGINT): stop the sandbox too.
            group.cancelAll()
        }
        withExtendedLifetime(broker) {}
    }
}
