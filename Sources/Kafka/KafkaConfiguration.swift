/// Connection settings shared by producers and consumers.
///
/// `options` is the escape hatch to every librdkafka property (TLS, SASL, timeouts), passed
/// through verbatim from `CASHIER_KAFKA_OPTIONS` / `--kafka-option`; it is applied last, so an
/// operator can override any default chosen here — except the few that Cashier's invariants
/// rest on (`refusal(ofOption:value:)`), which clients refuse to start with.
public struct KafkaConfiguration: Sendable {
    public var bootstrapServers: String
    public var options: [(key: String, value: String)]
    public var clientID: String

    public init(bootstrapServers: String, options: [(key: String, value: String)] = [], clientID: String = "cashier") {
        self.bootstrapServers = bootstrapServers
        self.options = options
        self.clientID = clientID
    }

    /// The problem with each option Cashier refuses, one line each, in option order.
    public var refusals: [String] {
        options.compactMap { Self.refusal(ofOption: $0.key, value: $0.value) }
    }

    /// Throws the first refusal, for clients built from this configuration.
    func validate() throws(KafkaError) {
        if let refusal = refusals.first { throw KafkaError(.configuration, refusal) }
    }
}
