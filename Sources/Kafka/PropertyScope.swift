import Crdkafka
import Foundation

/// Which kind of client a librdkafka property applies to, as the linked librdkafka itself
/// documents it (the C/P column of `rd_kafka_conf_properties_show`, its CONFIGURATION.md).
///
/// One list of operator options (`CASHIER_KAFKA_OPTIONS`) configures every client of a
/// process; each client is given only the properties of its kind, so a producer never hears of
/// `fetch.wait.max.ms` (librdkafka would log a CONFWARN line for it) and a consumer never of
/// `linger.ms`.
enum PropertyScope: Equatable {
    case both, consumer, producer

    /// The scope of `key` (an alias included); nil for a property this librdkafka does not
    /// know, which is passed on so that librdkafka refuses it with its own message.
    static func of(_ key: String) -> PropertyScope? {
        table[key.trimmingWhitespace()]
    }

    /// Whether a client of `type` takes `key`.
    static func applies(_ key: String, to type: rd_kafka_type_t) -> Bool {
        switch of(key) {
        case .consumer: type == RD_KAFKA_CONSUMER
        case .producer: type == RD_KAFKA_PRODUCER
        case .both, nil: true
        }
    }

    private static let table: [String: PropertyScope] = parse(propertiesTable())

    /// librdkafka's property tables as Markdown text.
    private static func propertiesTable() -> String {
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else { return "" }
        rd_kafka_conf_properties_show(stream)
        fclose(stream)
        defer { free(buffer) }
        return buffer.map { String(cString: $0) } ?? ""
    }

    /// Rows look like `fetch.wait.max.ms | C | 0 .. 300000 | 500 | low | …`.
    static func parse(_ text: String) -> [String: PropertyScope] {
        var table: [String: PropertyScope] = [:]
        for line in text.split(separator: "\n") {
            let columns = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard columns.count == 3 else { continue }
            let name = String(columns[0]).trimmingWhitespace()
            let scope: PropertyScope? = switch String(columns[1]).trimmingWhitespace() {
            case "*": .both
            case "C": .consumer
            case "P": .producer
            default: nil
            }
            if let scope, !name.isEmpty { table[name] = scope }
        }
        return table
    }
}
