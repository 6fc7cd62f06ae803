/// Compact JSON text of one object, written member by member: for the event every order
/// emits (`ResultEvent.json()`), which Foundation's `JSONEncoder` made the largest single cost
/// of settling an order in the worker's profile (4.6% of its CPU, measured with `perf`).
///
/// It writes exactly what `EventJSON` writes (keys sorted, slashes unescaped, the same string
/// escapes), provided the members are added in sorted key order; `EventEncodingTests` holds it
/// to that byte for byte, over generated strings too.
struct JSONObjectText {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    init() { bytes.reserveCapacity(320) }

    mutating func member(_ key: StaticString, _ value: String?) {
        open(key)
        if let value { Self.append(quoted: value, to: &bytes) } else { bytes += "null".utf8 }
    }

    mutating func member(_ key: StaticString, _ value: (some BinaryInteger)?) {
        open(key)
        if let value { bytes += String(value).utf8 } else { bytes += "null".utf8 }
    }

    /// A nested object, or `null`.
    mutating func member(_ key: StaticString, object: JSONObjectText?) {
        open(key)
        if let object { bytes += object.bytes + [UInt8(ascii: "}")] } else { bytes += "null".utf8 }
    }

    func finished() -> String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }

    private mutating func open(_ key: StaticString) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes += $0 }
        bytes += "\":".utf8
    }

    /// JSONEncoder's escapes: quote and backslash; backspace, form feed, newline, carriage
    /// return and tab by their short forms; every other control character as `\u00xx` in
    /// lowercase hex; nothing else (not `/`, not non-ASCII, whose bytes are copied as they are).
    static func append(quoted value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
            case 0x08: bytes += "\\b".utf8
            case 0x0C: bytes += "\\f".utf8
            case 0x0A: bytes += "\\n".utf8
            case 0x0D: bytes += "\\r".utf8
            case 0x09: bytes += "\\t".utf8
            case 0x00..<0x20: bytes += "\\u00".utf8 + [hex(byte >> 4), hex(byte & 0x0F)]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func hex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
