/// Builds compact JSON text with a fixed member order.
///
/// Result events are stored in the outbox as bytes and republished verbatim, so the writer is
/// deterministic: the same fields always produce the same bytes.
public struct JSONWriter: Sendable {
    public private(set) var text = ""
    private var needsComma: [Bool] = []

    public init() {}

    public mutating func beginObject() { separate(); text += "{"; needsComma.append(false) }
    public mutating func endObject() { text += "}"; needsComma.removeLast() }
    public mutating func beginArray() { separate(); text += "["; needsComma.append(false) }
    public mutating func endArray() { text += "]"; needsComma.removeLast() }

    public mutating func key(_ name: String) {
        separate()
        Self.appendQuoted(name, to: &text)
        text += ":"
        // The value that follows must not add another comma.
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    public mutating func string(_ value: String) { separate(); Self.appendQuoted(value, to: &text) }
    public mutating func int(_ value: some BinaryInteger) { separate(); text += String(value) }
    public mutating func bool(_ value: Bool) { separate(); text += value ? "true" : "false" }
    public mutating func null() { separate(); text += "null" }

    /// Inserts already-serialised JSON (for example a stored payload) as a value.
    public mutating func raw(_ json: String) { separate(); text += json }

    public mutating func member(_ name: String, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    public mutating func member(_ name: String, _ value: Int64?) {
        key(name)
        if let value { int(value) } else { null() }
    }

    /// `{"code": …, "message": …}`, the shape of every reason in Cashier's events.
    public mutating func member(_ name: String, _ reason: Reason?) {
        key(name)
        guard let reason else { return null() }
        beginObject()
        member("code", reason.code)
        member("message", reason.message)
        endObject()
    }

    /// `{"topic": …, "partition": …, "offset": …}`: where a consumed record came from.
    public mutating func member(_ name: String, _ source: ResultEvent.Source) {
        key(name)
        beginObject()
        member("topic", source.topic)
        member("partition", Int64(source.partition))
        member("offset", source.offset)
        endObject()
    }

    private mutating func separate() {
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case let s where s.value < 0x20:
                let hex = String(s.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

extension JSONWriter {
    /// Writes a parsed value back out (numbers as their exact text, members in order).
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let text): raw(text)
        case .string(let text): string(text)
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element) }
            endArray()
        case .object(let members):
            beginObject()
            for (name, member) in members {
                key(name)
                self.value(member)
            }
            endObject()
        }
    }
}

extension JSONValue {
    /// Compact JSON text of the value.
    public var jsonText: String {
        var writer = JSONWriter()
        writer.value(self)
        return writer.text
    }
}
