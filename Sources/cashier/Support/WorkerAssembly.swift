import AsyncHTTPClient
import CashierChannels
import CashierStore
import CashierWorker
import Foundation
import Kafka
import Logging
import PostgresNIO
import ServiceLifecycle

/// Wires the order worker's parts together; shared by `cashier worker` and `cashier dev`.
enum WorkerAssembly {
    static func run(
        kafka: KafkaConfiguration, postgres: (url: String, configuration: PostgresClient.Configuration), channels: ChannelOptions.Resolved,
        configuration: WorkerConfiguration, extraServices: [any Service] = [], logger: Logger
    ) async throws {
        let http = ChannelHTTP.makeClient(maxConnectionsPerHost: configuration.concurrency)
        do {
            try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
                try await Migrator(client: client, logger: logger).requireCurrent()
                let producer = try KafkaProducer(configuration: kafka, logger: logger)
                let relay = OutboxRelay(outbox: OutboxStore(client: client, logger: logger), producer: producer, topics: configuration.topics, logger: logger)
                let store = PaymentStore(client: client, logger: logger, worker: configuration.workerName)
                let worker = try OrderWorker(
                    kafka: kafka, store: store, channels: channels.registry(client: http, logger: logger), relay: relay,
                    configuration: configuration, logger: logger)
                // Shutdown runs in reverse: the worker stops first, then the relay publishes
                // what the worker recorded last and flushes the producer.
                var settings = ServiceGroupConfiguration(
                    services: extraServices + [relay, worker], gracefulShutdownSignals: [.sigterm, .sigint],
                    cancellationSignals: [], logger: logger)
                settings.maximumGracefulShutdownDuration = configuration.shutdownDeadline + .seconds(4)
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
