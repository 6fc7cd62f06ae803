import CashierWorker
import Kafka

extension AnySetting {
    /// The value as `cashier config check` shows it. The one rule for secrets: a Kafka property
    /// is secret when `KafkaConfiguration.isSecret` says so (the rule log redaction and
    /// librdkafka's refusals use too), and so is an entry that is not `k=v` (it may be a secret
    /// that lost its name); a URL shows everything but its password; any other secret setting
    /// shows at most its first four characters.
    func shown(_ value: String) -> String {
        if name == Settings.kafkaOptions.name {
            // Split as `KafkaOptions` splits it.
            return value.split(separator: ",", omittingEmptySubsequences: false).map { item -> String in
                guard let equals = item.firstIndex(of: "="), equals != item.startIndex else { return item.isEmpty ? "" : "***" }
                let key = item[..<equals]
                return KafkaConfiguration.isSecret(String(key)) ? "\(key)=***" : String(item)
            }.joined(separator: ",")
        }
        guard secret else { return value }
        if value.contains("://") { return Redaction.mask(value) }
        return value.count <= 8 ? "***" : String(value.prefix(4)) + "…***"
    }
}
