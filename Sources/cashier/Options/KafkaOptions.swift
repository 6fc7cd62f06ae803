import ArgumentParser
import CashierWorker
import Foundation
import Kafka

/// Broker, raw librdkafka properties and topic names (DESIGN.md sections 2 and 4).
struct KafkaOptions: ParsableArguments {
    @Option(name: .customLong("brokers"), help: "Kafka bootstrap servers (env CASHIER_KAFKA_BROKERS).")
    var brokers: String?

    @Option(name: .customLong("kafka-option"), help: ArgumentHelp("librdkafka property passed through, k=v; repeatable (env CASHIER_KAFKA_OPTIONS, comma-separated).", valueName: "k=v"))
    var kafkaOptions: [String] = []

    @Option(name: .customLong("topic-orders"), help: "Orders topic (env CASHIER_TOPIC_ORDERS, default orders.created).")
    var topicOrders: String?
    @Option(name: .customLong("topic-results"), help: "Results topic (env CASHIER_TOPIC_RESULTS, default payments.results).")
    var topicResults: String?
    @Option(name: .customLong("topic-retry"), help: "Retry topic (env CASHIER_TOPIC_RETRY, default payments.retry).")
    var topicRetry: String?
    @Option(name: .customLong("topic-dlq"), help: "Dead-letter topic (env CASHIER_TOPIC_DLQ, default payments.dlq).")
    var topicDLQ: String?

    /// The Kafka configuration from flags and environment; the first problem, if any, as one line.
    func configuration(defaultBrokers: String? = nil) throws -> KafkaConfiguration {
        let (configuration, problems) = resolve(defaultBrokers: defaultBrokers)
        if let first = problems.first {
            throw CLIError(problems.count == 1 ? first : "\(first) (and \(problems.count - 1) more Kafka setting problem\(problems.count == 2 ? "" : "s"))")
        }
        return configuration!
    }

    /// Every problem with the Kafka configuration, one line each (for `cashier config check`).
    func problems(defaultBrokers: String? = nil) -> [String] {
        resolve(defaultBrokers: defaultBrokers).problems
    }

    private func resolve(defaultBrokers: String?) -> (configuration: KafkaConfiguration?, problems: [String]) {
        var problems: [String] = []
        let servers = brokers ?? Env.value("CASHIER_KAFKA_BROKERS") ?? defaultBrokers
        if let servers {
            for server in servers.split(separator: ",") {
                let parts = server.split(separator: ":")
                guard parts.count >= 2, let port = Int(parts.last!), (1...65535).contains(port) else {
                    problems.append("broker \"\(server)\" is not HOST:PORT; pass e.g. --brokers kafka-1:9092,kafka-2:9092")
                    break
                }
            }
        } else {
            problems.append("no Kafka brokers given: pass --brokers HOST:PORT or set CASHIER_KAFKA_BROKERS")
        }
        let fromEnvironment = Env.value("CASHIER_KAFKA_OPTIONS")
        let environmentSource =
            if let file = ConfigFile.path, let fromEnvironment, ConfigFile.loaded["CASHIER_KAFKA_OPTIONS"] == fromEnvironment {
                "CASHIER_KAFKA_OPTIONS in \(file)"
            } else {
                "CASHIER_KAFKA_OPTIONS"
            }
        var options: [(key: String, value: String)] = []
        let sources = [(environmentSource, fromEnvironment.map { $0.split(separator: ",").map(String.init) } ?? []), ("--kafka-option", kafkaOptions)]
        for (source, items) in sources {
            for (position, item) in items.enumerated() {
                guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                    // Never the entry itself: it may be part of a secret (a value holding a comma).
                    problems.append("\(source) entry \(position + 1) is not k=v; write e.g. security.protocol=SASL_SSL")
                    continue
                }
                let key = String(item[..<equals]).trimmingCharacters(in: .whitespaces)
                let value = String(item[item.index(after: equals)...])
                // Cashier's invariants rest on a few properties: refuse overriding them.
                if let refusal = KafkaConfiguration.refusal(ofOption: key, value: value) {
                    problems.append("\(source): \(refusal)")
                }
                options.append((key, value))
            }
        }
        guard let servers, problems.isEmpty else { return (nil, problems) }
        return (KafkaConfiguration(bootstrapServers: servers, options: options), [])
    }

    func topics() throws -> Topics {
        var topics = Topics()
        topics.orders = try name(topicOrders, "CASHIER_TOPIC_ORDERS", topics.orders)
        topics.results = try name(topicResults, "CASHIER_TOPIC_RESULTS", topics.results)
        topics.retry = try name(topicRetry, "CASHIER_TOPIC_RETRY", topics.retry)
        topics.dlq = try name(topicDLQ, "CASHIER_TOPIC_DLQ", topics.dlq)
        return topics
    }

    private func name(_ flag: String?, _ variable: String, _ fallback: String) throws -> String {
        let name = flag ?? Env.value(variable) ?? fallback
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
        guard !name.isEmpty, name.count <= 249, name.allSatisfy(allowed.contains), name != ".", name != ".." else {
            throw CLIError("topic name \"\(name.prefix(60))\" (\(variable)) is invalid; Kafka allows 1-249 of A-Z a-z 0-9 . _ -")
        }
        return name
    }
}


