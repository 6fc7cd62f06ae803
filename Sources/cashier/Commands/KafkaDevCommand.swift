import ArgumentParser
import CashierOps
import CashierWorker
import Foundation
import Kafka
import Logging
import ServiceLifecycle

struct KafkaDevCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-dev",
        abstract: "An in-memory Kafka-protocol broker for development and tests (librdkafka's mock cluster).",
        discussion: "Creates the four topics, prints bootstrap=HOST:PORT as the first line of stdout, and runs until SIGINT or SIGTERM. Nothing is persisted.")

    @Option(help: "Partitions per topic.")
    var partitions: Int = 6

    @Option(help: "Also write HOST:PORT to this file once the broker is listening.")
    var bootstrapFile: String?

    @OptionGroup var kafka: KafkaOptions

    func validate() throws {
        guard (1...256).contains(partitions) else { throw CLIError("--partitions \(partitions) is out of range; use 1...256") }
    }

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let logger = Logger(label: "cashier.kafka-dev")
        let broker = try DevBroker(partitions: partitions, topics: try kafka.topics(settings).all, logger: logger)
        let service = DevBrokerService(broker: broker, bootstrapFile: bootstrapFile)
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        // The group's handlers are gone; a second signal while the broker is torn down must
        // not end the process with the default action (status 143 instead of 0).
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        withExtendedLifetime(broker) {}
    }
}

/// Announces the broker, then holds it until graceful shutdown (SIGTERM, SIGINT).
///
/// The address is announced from inside the `ServiceGroup` on purpose: by the time a service
/// runs, the group has registered its signal handlers. On Linux, `UnixSignals` does not ignore
/// the signals beforehand, so a reader that sends SIGTERM as soon as it sees `bootstrap=` would
/// otherwise kill the process by the default action (status 143; so it did, when the address
/// was printed before `run()`).
private struct DevBrokerService: Service {
    let broker: DevBroker
    let bootstrapFile: String?

    func run() async throws {
        try broker.announce(bootstrapFile: bootstrapFile)
        try? await gracefulShutdown()
    }
}

extension DevBroker {
    /// Starts the broker and announces its address (`cashier dev`).
    static func start(partitions: Int, topics: Topics, bootstrapFile: String?) throws -> DevBroker {
        let broker = try DevBroker(partitions: partitions, topics: topics.all, logger: Logger(label: "cashier.kafka-dev"))
        try broker.announce(bootstrapFile: bootstrapFile)
        return broker
    }

    /// Prints `bootstrap=HOST:PORT` on stdout and, if asked, writes HOST:PORT to a file.
    func announce(bootstrapFile: String?) throws {
        Output.line("bootstrap=\(bootstrapServers)")
        if let bootstrapFile {
            do {
                try bootstrapServers.write(toFile: bootstrapFile, atomically: true, encoding: .utf8)
            } catch {
                throw CLIError("cannot write --bootstrap-file \(bootstrapFile): \(error.localizedDescription)")
            }
        }
    }
}
