/// The librdkafka properties Cashier treats specially: secrets never printed, and settings its
/// invariants rest on (DESIGN.md section 1) that an operator may not override.
extension KafkaConfiguration {
    /// Properties whose values are secrets: every property librdkafka flags `_RK_SENSITIVE`
    /// (see its CONFIGURATION.md and rdkafka_conf.c), those of newer librdkafka releases, and
    /// Java-client names an operator might pass by mistake (refused by librdkafka, but their
    /// values still must not be shown). The one list for `cashier config check` and log masking.
    public static let secretProperties: [String] = [
        "sasl.username",
        "sasl.password",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.assertion.private.key.pem",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "sasl.oauthbearer.client.credentials.client.secret",
        "sasl.jaas.config",
        "ssl.key.location",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl_key",
        "ssl.keystore.password",
        "ssl.keystore.key",
        "ssl.truststore.password",
        "ssl.ca.pem",
    ]

    private static let secretSet = Set(secretProperties)

    /// Whether the property's value is a secret and must never be printed: one of
    /// `secretProperties`, or, for properties unknown here, a name that says so. The one rule
    /// for `cashier config check`, log masking and librdkafka's refusals.
    public static func isSecret(_ key: String) -> Bool {
        let name = key.trimmingWhitespace().lowercased()
        return secretSet.contains(name) || secretWords.contains { name.contains($0) } || secretSuffixes.contains { name.hasSuffix($0) }
    }

    /// `isSecret` as a regular expression over a property name (case-insensitive), for masking
    /// `name=value` in free text.
    public static var secretNamePattern: String {
        let escape = { (text: String) in String(text.flatMap { $0 == "." ? ["\\", "."] : [$0] }) }
        return (secretProperties.map(escape) + secretWords.map { #"[\w.]*"# + $0 + #"[\w.]*"# } + secretSuffixes.map { #"[\w.]*"# + escape($0) })
            .joined(separator: "|")
    }

    private static let secretWords = ["password", "secret", "passphrase"]
    private static let secretSuffixes = [".key.pem", "private.key"]

    /// Why Cashier refuses this operator-given property, as one line naming the problem and the
    /// fix; nil when it may be passed through.
    ///
    /// - `enable.auto.commit`, `enable.auto.offset.store` (any value): Cashier stores and commits
    ///   offsets itself, only once the outcome they cover is durable (invariant 5).
    /// - `enable.idempotence` other than true: a retried send could duplicate or reorder results.
    /// - `acks` / `request.required.acks` other than `all` / `-1`: an acknowledged result could be
    ///   lost with a broker.
    /// - `auto.offset.reset` other than earliest: a new group would skip orders (invariant 2).
    public static func refusal(ofOption key: String, value: String) -> String? {
        let name = key.trimmingWhitespace()
        let setting = value.trimmingWhitespace().lowercased()
        // Values here are never secrets, but may be anything: show a short, printable form.
        let shown = String(value.prefix(16).map { (0x20..<0x7F).contains($0.asciiValue ?? 0) ? $0 : "?" })
        switch name {
        case "enable.auto.commit", "enable.auto.offset.store", "auto.commit.enable":
            return "kafka option \(name) is refused: Cashier stores and commits offsets itself, only after the outcome they cover is durable; remove it"
        case "enable.idempotence":
            guard !["true", "t", "1"].contains(setting) else { return nil }
            return "kafka option enable.idempotence=\(shown) is refused: without idempotence a retried send can duplicate or reorder results; remove it (Cashier's producer is idempotent)"
        case "acks", "request.required.acks":
            guard !["all", "-1"].contains(setting) else { return nil }
            return "kafka option \(name)=\(shown) is refused: a result acknowledged by fewer than all in-sync replicas can be lost; remove it or set \(name)=all"
        case "auto.offset.reset":
            guard !["earliest", "smallest", "beginning"].contains(setting) else { return nil }
            return "kafka option auto.offset.reset=\(shown) is refused: a new consumer group must start from the earliest offset so no order is skipped; remove it"
        default:
            return nil
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
