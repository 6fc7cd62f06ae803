import AsyncHTTPClient
import CashierChannels
import CashierOps
import CashierStore
import CashierWorker
import Foundation
import Kafka
import Logging
import PostgresNIO
import ServiceLifecycle

/// Wires the pipelines' parts together; shared by `cashier worker`, `cashier retry-worker` and
/// `cashier dev` (which runs both in one process, sharing one pool, producer and relay).
enum WorkerAssembly {
    enum Role {
        case orders(WorkerConfiguration)
        case retries(RetryWorkerConfiguration)
    }

    static func run(
        kafka: KafkaConfiguration, postgres: (url: String, configuration: PostgresClient.Configuration), channels: ChannelOptions.Resolved,
        roles: [Role], http listener: Listener, extraServices: [any Service] = [], logger: Logger
    ) async throws {
        // A taken port is found before any connection is made.
        try await listener.ensureAvailable()
        MetricsSetup.bootstrap()
        let tracing = try TracingSetup.bootstrap(logger: logger)
        let connections = roles.map { role in
            switch role {
            case .orders(let configuration): configuration.concurrency
            case .retries(let configuration): configuration.concurrency
            }
        }.reduce(0, +)
        let topics = switch roles.first {
        case .orders(let configuration)?: configuration.topics
        case .retries(let configuration)?: configuration.topics
        case nil: Topics()
        }
        let deadline = roles.map { role in
            switch role {
            case .orders(let configuration): configuration.shutdownDeadline
            case .retries(let configuration): configuration.shutdownDeadline
            }
        }.max() ?? .seconds(25)
        let http = ChannelHTTP.makeClient(maxConnectionsPerHost: connections)
        do {
            try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
                try await Migrator(client: client, logger: logger).requireCurrent()
                let producer = try KafkaProducer(configuration: kafka, logger: logger)
                let relay = OutboxRelay(outbox: OutboxStore(client: client, logger: logger), producer: producer, topics: topics, logger: logger)
                var pipelines: [any Service] = []
                var readiness = Readiness()
                readiness.checks.append(("postgres (reachable, schema current)", {
                    try await Migrator(client: client, logger: logger).requireCurrent()
                    return true
                }))
                readiness.checks.append(("outbox relay publishing", { !relay.isStalled }))
                for role in roles {
                    switch role {
                    case .orders(let configuration):
                        let store = PaymentStore(client: client, logger: logger, worker: configuration.workerName, lease: configuration.lease)
                        let registry = channels.registry(client: http, logger: logger, limit: configuration.concurrency)
                        let worker = try OrderWorker(
                            kafka: kafka, store: store, channels: registry, relay: relay, configuration: configuration, logger: logger)
                        pipelines.append(worker)
                        readiness.checks.append(("kafka group \(configuration.groupID) joined", { worker.isJoined }))
                        readiness.checks.append(("order pipeline moving", { !worker.isStalled }))
                    case .retries(let configuration):
                        let store = PaymentStore(client: client, logger: logger, worker: configuration.workerName, lease: configuration.lease)
                        let registry = channels.registry(client: http, logger: logger, breaker: false, limit: configuration.concurrency)
                        let worker = try RetryWorker(
                            kafka: kafka, store: store, channels: registry, relay: relay, configuration: configuration, logger: logger)
                        pipelines.append(worker)
                        readiness.checks.append(("kafka group \(configuration.groupID) joined", { worker.isJoined }))
                        readiness.checks.append(("retry pipeline moving", { !worker.isStalled }))
                    }
                }
                let host = listener.host
                let ops = OpsServer.application(host: listener.host, port: listener.port, readiness: readiness, logger: logger) { port in
                    Output.line("http=http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)")
                }
                // Shutdown runs in reverse: the pipelines stop first, then the relay publishes
                // what they recorded last and flushes the producer, then the last spans go out.
                var settings = ServiceGroupConfiguration(
                    services: (tracing.map { [$0] } ?? []) + extraServices + [listener.service(ops), relay] + pipelines,
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    cancellationSignals: [], logger: logger)
                settings.maximumGracefulShutdownDuration = deadline + .seconds(4)
                try await ServiceGroup(configuration: settings).run()
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try? await http.shutdown()
    }

    static func workerName() -> String {
        "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
    }
}
