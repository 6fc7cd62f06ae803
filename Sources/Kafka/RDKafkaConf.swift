import Crdkafka

/// Builds an `rd_kafka_conf_t` from defaults plus the operator's properties, failing with a
/// message that names the property (never its value) on the first one librdkafka refuses.
enum RDKafkaConf {
    static func make(_ properties: [(key: String, value: String)]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(.configuration, "out of memory creating configuration") }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let detail = String(errorBuffer: errorText)
                throw KafkaError(.configuration, "kafka option \"\(key)\" was refused by librdkafka (\(result == RD_KAFKA_CONF_UNKNOWN ? "unknown property" : "invalid value")): \(KafkaConfiguration.isSecret(key) ? "value hidden" : detail)")
            }
        }
        return conf
    }

    /// Creates a client from properties: a `ClientContext` reachable from every callback,
    /// librdkafka's logs routed to `logger`, and `configure` to install further callbacks.
    ///
    /// Properties of the other kind of client (a consumer's `fetch.wait.max.ms` given to a
    /// producer) are left out: one option list serves every client of a process.
    static func client(
        _ type: rd_kafka_type_t, _ properties: [(key: String, value: String)], context: ClientContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) -> RDKafkaHandle {
        let conf = try make(properties.filter { PropertyScope.applies($0.key, to: type) })
        let unmanaged = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, unmanaged.toOpaque())
        ClientContext.installLogging(conf)
        configure(conf)
        var errorText = [CChar](repeating: 0, count: 512)
        guard let pointer = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            unmanaged.release()
            throw KafkaError(.configuration, "cannot create kafka client: \(String(errorBuffer: errorText))")
        }
        return RDKafkaHandle(pointer, context: unmanaged)
    }
}

extension String {
    /// Text of a NUL-terminated C buffer such as librdkafka's `errstr`.
    init(errorBuffer buffer: [CChar]) {
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}
