import ArgumentParser
import CashierOps
import CashierWorker
import Foundation
import Kafka
import Logging

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
        let broker = try DevBroker.start(partitions: partitions, topics: try kafka.topics(settings), bootstrapFile: bootstrapFile)
        await Signals.waitForTermination()
        withExtendedLifetime(broker) {}
    }
}

extension DevBroker {
    /// Starts the broker and announces its address on stdout (and in a file, if asked).
    static func start(partitions: Int, topics: Topics, bootstrapFile: String?) throws -> DevBroker {
        let broker = try DevBroker(partitions: partitions, topics: topics.all, logger: Logger(label: "cashier.kafka-dev"))
        Output.line("bootstrap=\(broker.bootstrapServers)")
        if let bootstrapFile {
            do {
                try broker.bootstrapServers.write(toFile: bootstrapFile, atomically: true, encoding: .utf8)
            } catch {
                throw CLIError("cannot write --bootstrap-file \(bootstrapFile): \(error.localizedDescription)")
            }
        }
        return broker
    }
}
