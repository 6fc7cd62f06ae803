import ArgumentParser
import CashierWorker
import Foundation
import Kafka

/// Broker, raw librdkafka properties and topic names (DESIGN.md sections 2 and 4).
struct KafkaOptions: ParsableArguments {
    @Option(name: .customLong(Settings.kafkaBrokers.flag!), help: Settings.kafkaBrokers.flagHelp)
    var brokers: String?

    @Option(name: .customLong(Settings.kafkaOptions.flag!), help: Settings.kafkaOptions.flagHelp(valueName: "k=v"))
    var kafkaOptions: [String] = []

    @Option(name: .customLong(Settings.topicOrders.flag!), help: Settings.topicOrders.flagHelp)
    var topicOrders: String?
    @Option(name: .customLong(Settings.topicResults.flag!), help: Settings.topicResults.flagHelp)
    var topicResults: String?
    @Option(name: .customLong(Settings.topicRetry.flag!), help: Settings.topicRetry.flagHelp)
    var topicRetry: String?
    @Option(name: .customLong(Settings.topicDLQ.flag!), help: Settings.topicDLQ.flagHelp)
    var topicDLQ: String?

    /// The Kafka configuration from flags and settings; the first problem, if any, as one line.
    func configuration(_ settings: SettingsReader, defaultBrokers: String? = nil) throws -> KafkaConfiguration {
        let (configuration, problems) = resolve(settings, defaultBrokers: defaultBrokers)
        if let first = problems.first {
            throw CLIError(problems.count == 1 ? first : "\(first) (and \(problems.count - 1) more Kafka setting problem\(problems.count == 2 ? "" : "s"))")
        }
        return configuration!
    }

    /// Every problem with the Kafka configuration, one line each (for `cashier config check`).
    func problems(_ settings: SettingsReader, defaultBrokers: String? = nil) -> [String] {
        resolve(settings, defaultBrokers: defaultBrokers).problems
    }

    private func resolve(_ settings: SettingsReader, defaultBrokers: String?) -> (configuration: KafkaConfiguration?, problems: [String]) {
        var problems: [String] = []
        let servers = brokers ?? settings.text(Settings.kafkaBrokers)?.text ?? defaultBrokers
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
        let fromSettings = settings.text(Settings.kafkaOptions)
        let settingSource = Settings.kafkaOptions.name + (fromSettings?.source.place.map { " in \($0)" } ?? "")
        var options: [(key: String, value: String)] = []
        let sources = [(settingSource, fromSettings.map { $0.text.split(separator: ",").map(String.init) } ?? []), ("--kafka-option", kafkaOptions)]
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

    func topics(_ settings: SettingsReader) throws -> Topics {
        var topics = Topics()
        topics.orders = try name(topicOrders, Settings.topicOrders, settings, topics.orders)
        topics.results = try name(topicResults, Settings.topicResults, settings, topics.results)
        topics.retry = try name(topicRetry, Settings.topicRetry, settings, topics.retry)
        topics.dlq = try name(topicDLQ, Settings.topicDLQ, settings, topics.dlq)
        return topics
    }

    private func name(_ flag: String?, _ setting: Setting<String>, _ settings: SettingsReader, _ fallback: String) throws -> String {
        let name = try settings.value(setting, flag: flag, default: fallback)
        let variable = setting.name
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
        guard !name.isEmpty, name.count <= 249, name.allSatisfy(allowed.contains), name != ".", name != ".." else {
            throw CLIError("topic name \"\(name.prefix(60))\" (\(variable)) is invalid; Kafka allows 1-249 of A-Z a-z 0-9 . _ -")
        }
        return name
    }
}


