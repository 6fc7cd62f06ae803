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

    func configuration(defaultBrokers: String? = nil) throws -> KafkaConfiguration {
        guard let servers = brokers ?? Env.value("CASHIER_KAFKA_BROKERS") ?? defaultBrokers else {
            throw CLIError("no Kafka brokers given: pass --brokers HOST:PORT or set CASHIER_KAFKA_BROKERS")
        }
        for server in servers.split(separator: ",") {
            let parts = server.split(separator: ":")
            guard parts.count >= 2, let port = Int(parts.last!), (1...65535).contains(port) else {
                throw CLIError("broker \"\(server)\" is not HOST:PORT; pass e.g. --brokers kafka-1:9092,kafka-2:9092")
            }
        }
        let fromEnvironment = Env.value("CASHIER_KAFKA_OPTIONS").map { $0.split(separator: ",").map(String.init) } ?? []
        var options: [(key: String, value: String)] = []
        for (source, items) in [("CASHIER_KAFKA_OPTIONS", fromEnvironment), ("--kafka-option", kafkaOptions)] {
            for item in items {
                guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                    throw CLIError("\(source) entry \"\(item.prefix(40))\" is not k=v; write e.g. security.protocol=SASL_SSL")
                }
                options.append((String(item[..<equals]).trimmingCharacters(in: .whitespaces), String(item[item.index(after: equals)...])))
            }
        }
        return KafkaConfiguration(bootstrapServers: servers, options: options)
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


