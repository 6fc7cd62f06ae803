import CashierWorker
import Foundation
import Kafka

/// `--config FILE` (or `CASHIER_CONFIG`): the same `CASHIER_*` settings as the environment, one
/// `NAME=value` per line (`#` comments, blank lines allowed; values may be quoted). Precedence:
/// flags, then the environment, then the file, then defaults — so a Kubernetes Secret in the
/// environment overrides a ConfigMap-mounted file.
enum ConfigFile {
    /// Where each setting that came from a file was read (for `cashier config check`).
    nonisolated(unsafe) static var loaded: [String: String] = [:]
    nonisolated(unsafe) static var path: String?

    /// Takes `--config FILE` / `--config=FILE` out of the arguments and loads the file into the
    /// environment (for settings not already there).
    static func apply(_ arguments: inout [String]) throws {
        var file = ProcessInfo.processInfo.environment["CASHIER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--config" {
                guard index + 1 < arguments.count else { throw CLIError("--config needs a file: --config /etc/cashier/cashier.conf") }
                file = arguments[index + 1]
                arguments.removeSubrange(index...(index + 1))
            } else if argument.hasPrefix("--config=") {
                file = String(argument.dropFirst("--config=".count))
                arguments.remove(at: index)
            } else {
                index += 1
            }
        }
        guard let file else { return }
        path = file
        for (name, value) in try settings(in: file) {
            loaded[name] = value
            if ProcessInfo.processInfo.environment[name]?.isEmpty ?? true { setenv(name, value, 1) }
        }
    }

    /// The settings of a `NAME=value` file (also `cashier sandbox keys`' `cashier.env`).
    static func settings(in file: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw CLIError("cannot read the config file \(file); check the path and its permissions")
        }
        var settings: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), line[..<equals].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else {
                throw CLIError("\(file) line \(number + 1) is not NAME=value; write e.g. CASHIER_KAFKA_BROKERS=kafka-1:9092")
            }
            let name = String(line[..<equals])
            guard Settings.known.contains(where: { $0.name == name }) else {
                throw CLIError("\(file) line \(number + 1): \(name) is not a Cashier setting; see `cashier config check --help`")
            }
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" { value = String(value.dropFirst().dropLast()) }
            settings[name] = value
        }
        return settings
    }
}

/// Every setting Cashier reads from the environment or a config file.
enum Settings {
    struct Setting {
        let name: String
        let secret: Bool
        let fallback: String
    }

    static let known: [Setting] = [
        .init(name: "CASHIER_KAFKA_BROKERS", secret: false, fallback: "(required)"),
        .init(name: "CASHIER_KAFKA_OPTIONS", secret: true, fallback: ""),
        .init(name: "CASHIER_DATABASE_URL", secret: true, fallback: "(required)"),
        .init(name: "CASHIER_GROUP_ID", secret: false, fallback: "cashier-payments / cashier-retry"),
        .init(name: "CASHIER_TOPIC_ORDERS", secret: false, fallback: "orders.created"),
        .init(name: "CASHIER_TOPIC_RESULTS", secret: false, fallback: "payments.results"),
        .init(name: "CASHIER_TOPIC_RETRY", secret: false, fallback: "payments.retry"),
        .init(name: "CASHIER_TOPIC_DLQ", secret: false, fallback: "payments.dlq"),
        .init(name: "CASHIER_CONCURRENCY", secret: false, fallback: "64"),
        .init(name: "CASHIER_RETRY_CONCURRENCY", secret: false, fallback: "64"),
        .init(name: "CASHIER_HTTP_PORT", secret: false, fallback: "8080"),
        .init(name: "CASHIER_NOTIFY_PORT", secret: false, fallback: "8081"),
        .init(name: "CASHIER_NOTIFY_BASE_URL", secret: false, fallback: ""),
        .init(name: "CASHIER_LOG_LEVEL", secret: false, fallback: "info"),
        .init(name: "CASHIER_LOG_FORMAT", secret: false, fallback: "json off a terminal, text on one"),
        .init(name: "CASHIER_CHANNEL_TIMEOUT_MS", secret: false, fallback: "10000"),
        .init(name: "CASHIER_CHANNEL_CONCURRENCY", secret: false, fallback: "32"),
        .init(name: "CASHIER_BREAKER_MIN_CALLS", secret: false, fallback: "20"),
        .init(name: "CASHIER_BREAKER_MIN_CALLS_CARD", secret: false, fallback: ""),
        .init(name: "CASHIER_BREAKER_MIN_CALLS_ALIPAY", secret: false, fallback: ""),
        .init(name: "CASHIER_BREAKER_MIN_CALLS_WECHAT", secret: false, fallback: ""),
        .init(name: "CASHIER_BREAKER_OPEN_MS", secret: false, fallback: "30000"),
        .init(name: "CASHIER_RETRY_BASE_MS", secret: false, fallback: "1000"),
        .init(name: "CASHIER_RETRY_FACTOR", secret: false, fallback: "2"),
        .init(name: "CASHIER_RETRY_MAX_MS", secret: false, fallback: "300000"),
        .init(name: "CASHIER_RETRY_MAX_ATTEMPTS", secret: false, fallback: "8"),
        .init(name: "CASHIER_CARD_URL", secret: false, fallback: ""),
        .init(name: "CASHIER_CARD_API_KEY", secret: true, fallback: ""),
        .init(name: "CASHIER_ALIPAY_URL", secret: false, fallback: ""),
        .init(name: "CASHIER_ALIPAY_APP_ID", secret: false, fallback: ""),
        .init(name: "CASHIER_ALIPAY_PRIVATE_KEY_FILE", secret: false, fallback: ""),
        .init(name: "CASHIER_ALIPAY_PUBLIC_KEY_FILE", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_URL", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_MCHID", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_APPID", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_SERIAL_NO", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_PRIVATE_KEY_FILE", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_PLATFORM_PUBLIC_KEY_FILE", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_PLATFORM_SERIAL", secret: false, fallback: ""),
        .init(name: "CASHIER_WECHAT_APIV3_KEY", secret: true, fallback: ""),
    ]

    /// A secret shown as its first characters only; a URL's password masked.
    static func masked(_ setting: Setting, _ value: String) -> String {
        if setting.name == "CASHIER_DATABASE_URL" { return Redaction.mask(value) }
        if setting.name == "CASHIER_KAFKA_OPTIONS" {
            // Split as `KafkaOptions` splits it; every secret librdkafka property is masked, and
            // so is an entry that is not k=v (it may be a secret that lost its name).
            return value.split(separator: ",", omittingEmptySubsequences: false).map { item -> String in
                guard let equals = item.firstIndex(of: "="), equals != item.startIndex else { return item.isEmpty ? "" : "***" }
                let key = item[..<equals]
                return KafkaConfiguration.isSecret(String(key)) ? "\(key)=***" : String(item)
            }.joined(separator: ",")
        }
        guard setting.secret else { return value }
        return value.count <= 8 ? "***" : String(value.prefix(4)) + "…***"
    }
}
