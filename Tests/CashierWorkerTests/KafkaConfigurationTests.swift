import Kafka
import Testing

/// Properties Cashier's invariants rest on cannot be overridden; secret ones are known.
@Suite struct KafkaConfigurationTests {
    @Test(arguments: [
        ("enable.auto.commit", "false"), ("enable.auto.commit", "true"), ("enable.auto.offset.store", "false"),
        ("enable.idempotence", "false"), ("enable.idempotence", "0"), ("acks", "1"), ("acks", "0"),
        ("request.required.acks", "1"), ("auto.offset.reset", "latest"),
    ])
    func refusesPropertiesThatCouldBreakAnInvariant(_ key: String, _ value: String) throws {
        let refusal = try #require(KafkaConfiguration.refusal(ofOption: key, value: value))
        #expect(refusal.contains(key) && refusal.contains("remove it"), "\(refusal)")
        #expect(!refusal.contains("\n"))
        #expect(KafkaConfiguration(bootstrapServers: "k:9092", options: [(key, value)]).refusals == [refusal])
    }

    @Test(arguments: [
        ("enable.idempotence", "true"), ("acks", "all"), ("acks", "-1"), ("request.required.acks", "ALL"),
        ("auto.offset.reset", "earliest"), ("security.protocol", "SASL_SSL"), ("linger.ms", "5"),
    ])
    func passesHarmlessPropertiesThrough(_ key: String, _ value: String) {
        #expect(KafkaConfiguration.refusal(ofOption: key, value: value) == nil)
    }

    @Test func knowsTheSecretPropertiesOfLibrdkafka() {
        for name in ["sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "ssl_key", "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config"] {
            #expect(KafkaConfiguration.secretProperties.contains(name))
            #expect(KafkaConfiguration.isSecret(name) && KafkaConfiguration.isSecret(" \(name.uppercased()) "))
        }
        for name in ["security.protocol", "sasl.mechanisms", "bootstrap.servers", "ssl.ca.location"] {
            #expect(!KafkaConfiguration.isSecret(name))
        }
    }

    @Test func aClientRefusesToStartWithARefusedProperty() {
        let configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1", options: [("enable.auto.commit", "true")])
        #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(configuration: configuration, groupID: "g", topics: ["t"], logger: .init(label: "test"))
        }
    }
}
