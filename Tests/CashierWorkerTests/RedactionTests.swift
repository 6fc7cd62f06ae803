import Kafka
import Testing
@testable import CashierWorker

/// Log masking: secrets and buyers' saved credentials never appear in full in a log line.
@Suite struct RedactionTests {
    @Test(arguments: [
        ("payment_method", "pm_card_visa_4242424242"),
        ("payment_method", "20215606000000000123"),
        ("payment_method", "Wx15463511252015071056489715"),
        ("paymentMethod", "AGR_BALANCE_PRIVATE"),
    ])
    func aPaymentMethodMetadataValueIsMasked(_ key: String, _ value: String) {
        let masked = Redaction.mask(metadataKey: key, value)
        #expect(!masked.contains(value))
        #expect(masked.count <= 5, "\(masked)")
    }

    @Test(arguments: [
        #"{"order_id":"ord_1","payment_method":"pm_card_visa","channel":"card"}"#,
        #"{"order_id":"ord_1", "payment_method" : "secret-token-value-1"}"#,
        #"payload {\"payment_method\":\"secret-token-value-1\"} stored"#,
        #"OrderCreated(orderID: "ord_1", paymentMethod: "secret-token-value-1", createdAt: nil)"#,
        "amount=9000&payment_method=secret-token-value-1&confirm=true",
        #"{"agreement_params":{"agreement_no":"secret-token-value-1"}}"#,
        #"{"contract_id":"secret-token-value-1","amount":{"total":1}}"#,
    ])
    func aPaymentMethodInAMessageIsMasked(_ message: String) {
        let masked = Redaction.mask(message)
        #expect(!masked.contains("secret-token-value-1") && !masked.contains("pm_card_visa"), "\(masked)")
        #expect(masked.contains("ord_1") || !message.contains("ord_1"), "the rest stays readable: \(masked)")
    }

    @Test(arguments: [
        ("charging pm_card_visa_4242 for ord_1", "pm_card_visa_4242"),
        ("alipay agreement 20185909000458725113 declined", "20185909000458725113"),
        ("wechat contract Wx15463511252015071056489715 paused", "Wx15463511252015071056489715"),
        ("sandbox agreement AGR_SYSTEM_ERROR", "AGR_SYSTEM_ERROR"),
        ("sandbox contract wx_contract_42", "wx_contract_42"),
    ])
    func knownCredentialShapesAreMaskedAnywhere(_ message: String, _ credential: String) {
        #expect(!Redaction.mask(message).contains(credential), "\(Redaction.mask(message))")
    }

    /// The pre-check that lets most values skip the regular expressions never skips one a
    /// rule would change: every text of every test here, and each with its trigger removed.
    @Test(arguments: [
        "pm_card_visa_4242", "20185909000458725113", "Wx15463511252015071056489715", "AGR_SYSTEM_ERROR", "wx_contract_42",
        "sk_test_abc", "rk_live_abc", "-----BEGIN PRIVATE KEY-----abc", "postgres://u:p@h/db", "sasl.password=x",
        #"{"payment_method":"x"}"#, "payment_method: x", "agreement 20１２３４５６７８９０１２３４５６",
    ])
    func thePreCheckSeesEverySecret(_ text: String) {
        #expect(Redaction.mayHoldSecret(text), "\(text)")
        #expect(Redaction.mask(text) != text, "\(Redaction.mask(text))")
    }

    @Test(arguments: ["ord_123", "retries_exhausted", "9000", "0/1795000000000", "card", "evt_01-b"])
    func plainValuesSkipTheExpressions(_ text: String) {
        #expect(!Redaction.mayHoldSecret(text))
    }

    @Test func identifiersThatAreNotCredentialsStayReadable() {
        let message = "order ord_20260101 offset 3/1795000000000 trade 2013112011001004330000121536 amount 9000"
        #expect(Redaction.mask(message) == message)
    }

    @Test func everySecretKafkaPropertyIsMaskedInEitherForm() {
        for name in KafkaConfiguration.secretProperties {
            let plain = Redaction.mask("CASHIER_KAFKA_OPTIONS=security.protocol=SASL_SSL,\(name)=s3cr3t value,linger.ms=5")
            #expect(!plain.contains("s3cr3t") && plain.contains("linger.ms=5") && plain.contains("SASL_SSL"), "\(plain)")
            let json = Redaction.mask(#"{"\#(name)":"s3cr3t value","other":"kept"}"#)
            #expect(!json.contains("s3cr3t") && json.contains("kept"), "\(json)")
            #expect(Redaction.mask(metadataKey: name, "s3cr3t") == "***")
        }
    }

    @Test(arguments: ["sasl.oauthbearer.client.private.key", "ssl.engine.key.pem", "example.client.secret.value", "custom.passphrase"])
    func aKafkaPropertySecretByItsNameIsMaskedAsConfigCheckMasksIt(_ name: String) {
        #expect(KafkaConfiguration.isSecret(name))
        let plain = Redaction.mask("options: linger.ms=5,\(name)=s3cr3t value,acks=all")
        #expect(!plain.contains("s3cr3t") && plain.contains("linger.ms=5") && plain.contains("acks=all"), "\(plain)")
        let json = Redaction.mask(#"{"\#(name)":"s3cr3t value","other":"kept"}"#)
        #expect(!json.contains("s3cr3t") && json.contains("kept"), "\(json)")
    }

    @Test func aPropertyThatIsNoSecretStaysReadable() {
        let text = "security.protocol=SASL_SSL,sasl.mechanisms=PLAIN,ssl.ca.location=/etc/ca.pem,linger.ms=5"
        #expect(Redaction.mask(text) == text)
    }

    @Test func privateKeysURLPasswordsAndAPIKeysAreMasked() {
        let pem = "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAbCd==\n-----END RSA PRIVATE KEY----- loaded"
        #expect(!Redaction.mask(pem).contains("MIIEow") && Redaction.mask(pem).hasSuffix("loaded"))
        #expect(Redaction.mask("postgres://cashier:hunter2@db/cashier") == "postgres://cashier:***@db/cashier")
        #expect(!Redaction.mask("Authorization: Bearer sk_live_0123456789").contains("0123456789"))
        #expect(!Redaction.mask("apiv3_key=abcdef123 next").contains("abcdef123"))
    }

    @Test func maskingTwiceChangesNothingMore() {
        let once = Redaction.mask(#"{"payment_method":"pm_card_visa_4242","x":"postgres://u:p@h/d"}"#)
        #expect(Redaction.mask(once) == once)
    }
}
