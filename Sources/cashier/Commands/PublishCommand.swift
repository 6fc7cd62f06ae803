import ArgumentParser
import CashierCore
import CashierOps
import CashierTools
import Foundation
import Kafka
import Logging

struct PublishCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "The upstream side and load generator: publish valid (and K deliberately invalid) orders.",
        discussion: "With --await-results, also waits for every result on payments.results and prints a summary (counts, rates, throughput, latency).")

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Orders to publish, invalid ones included.")
    var count: Int
    @Option(help: "Orders per second; 0 publishes as fast as possible.")
    var rate: Double = 0
    @Option(help: "card, alipay, wechat or mixed.")
    var channel: String = "card"
    @Option(help: "How many of the orders are deliberately invalid.")
    var invalid: Int = 0
    @Option(help: "Share of valid card orders whose card declines, 0...1.")
    var declineShare: Double = 0.05
    @Option(help: "Share of valid card orders the channel fails twice before charging (retried), 0...1.")
    var transientShare: Double = 0
    @Option(help: "Share of valid card orders the channel always fails (retries exhausted, dead-lettered), 0...1.")
    var unavailableShare: Double = 0
    @Option(help: "Prefix of this run's order ids (default: random).")
    var runID: String?
    @Flag(help: "Wait for every order's result and print a summary.")
    var awaitResults = false
    @Option(name: .customLong("timeout-s"), help: "How long --await-results waits.")
    var timeoutSeconds: Int = 300

    func validate() throws {
        guard count >= 1 else { throw CLIError("--count \(count) must be at least 1") }
        guard (0...count).contains(invalid) else { throw CLIError("--invalid \(invalid) must be between 0 and --count (\(count))") }
        guard rate >= 0 else { throw CLIError("--rate \(rate) must be 0 (unlimited) or more") }
        guard ["card", "alipay", "wechat", "mixed"].contains(channel) else {
            throw CLIError("--channel \"\(channel)\" is not one of card, alipay, wechat, mixed")
        }
        for (flag, share) in [("--decline-share", declineShare), ("--transient-share", transientShare), ("--unavailable-share", unavailableShare)] {
            guard (0...1).contains(share) else { throw CLIError("\(flag) \(share) is not a share from 0 to 1") }
        }
        guard declineShare + transientShare + unavailableShare <= 1 else {
            throw CLIError("--decline-share, --transient-share and --unavailable-share add up to more than 1; lower them")
        }
        if let runID, runID.isEmpty || runID.count > 20 || !runID.allSatisfy({ $0.isLetter || $0.isNumber }) {
            throw CLIError("--run-id \"\(runID)\" must be 1-20 letters or digits")
        }
    }

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let logger = Logger(label: "cashier.publish")
        let kafkaConfiguration = try kafka.configuration(settings)
        let topics = try kafka.topics(settings)
        let runID = self.runID ?? String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let producer = try KafkaProducer(configuration: kafkaConfiguration, logger: logger)

        // Start reading results before publishing, so none can be missed.
        var collector: ResultCollector? = nil
        if awaitResults {
            let partitions = try await producer.partitionCount(topic: topics.results)
            collector = try ResultCollector(kafka: kafkaConfiguration, topic: topics.results, partitions: partitions, logger: logger)
        }

        let publisher = Publisher(producer: producer, topic: topics.orders, runID: runID, channel: channel,
            faults: FaultMix(decline: declineShare, transient: transientShare, unavailable: unavailableShare))
        let outcome = try await publisher.publish(count: count, invalid: invalid, rate: rate)
        try await producer.flush()
        Output.line("published \(count) orders (\(invalid) invalid) to \(topics.orders) as run \(runID) in \(String(format: "%.2f", outcome.seconds)) s")

        guard let collector else { return }
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var lastReport = ContinuousClock.now
        try await collector.collect(expecting: outcome.expectedKeys, deadline: deadline) { received in
            if ContinuousClock.now - lastReport > .seconds(2) {
                lastReport = ContinuousClock.now
                FileHandle.standardError.write(Data("… \(received)/\(outcome.expectedKeys.count) results\n".utf8))
            }
        }
        await collector.close()
        let summary = RunSummary(
            runID: runID, published: count, invalid: invalid, expected: outcome.expectedKeys.count, results: collector.results,
            publishMilliseconds: outcome.publishedAt, firstPublishMilliseconds: outcome.startMilliseconds,
            duplicates: collector.duplicates, conflictingDuplicates: collector.conflictingDuplicates)
        print(summary.render())
        if collector.results.count < outcome.expectedKeys.count {
            throw CLIError("\(outcome.expectedKeys.count - collector.results.count) orders had no result within \(timeoutSeconds) s")
        }
    }
}
