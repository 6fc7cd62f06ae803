/// Connection settings shared by producers and consumers.
///
/// `options` is the escape hatch to every librdkafka property (TLS, SASL, timeouts), passed
/// through verbatim from `CASHIER_KAFKA_OPTIONS` / `--kafka-option`; it is applied last, so an
/// operator can override any default chosen here.
public struct KafkaConfiguration: Sendable {
    public var bootstrapServers: String
    public var options: [(key: String, value: String)]
    public var clientID: String

    public init(bootstrapServers: String, options: [(key: String, value: String)] = [], clientID: String = "cashier") {
        self.bootstrapServers = bootstrapServers
        self.options = options
        self.clientID = clientID
    }

    /// Property names whose values are secrets and must never be printed.
    public static func isSecret(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return lowered.contains("password") || lowered.contains("secret") || lowered.hasSuffix(".key.pem")
            || lowered.contains("sasl.oauthbearer.config")
    }
}
