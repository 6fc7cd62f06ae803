/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Written for untrusted event payloads: it bounds nesting depth, rejects duplicate keys,
/// invalid UTF-8 and trailing garbage, and reports the byte offset of the first problem.
///
/// A `\u` escape of an unpaired UTF-16 surrogate (`"\ud800"` alone, or a lone `"\udc00"`) is
/// an `invalidText` failure rather than a syntax one: the grammar allows it, but it names no
/// Unicode character, so the string cannot be read as text. The failure says which member held
/// it, so a decoder can name the field.
public struct JSONParser {
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// Not JSON at all.
            case syntax
            /// Well-formed JSON holding a string that is not valid Unicode text.
            case invalidText
        }

        public let kind: Kind
        /// Never contains document text beyond member names, which are sanitised (`echoed`).
        public let message: String
        public let offset: Int
        /// Where the problem is: the path of the member (or array element) whose value holds it,
        /// e.g. `user_id`, `source.topic` or `items[2]`; for a problem inside a member *name*,
        /// the path of the object holding that name. Nil at the top level. Sanitised.
        public let field: String?
        /// Whether the problem is in a member name rather than in a value.
        public let inMemberName: Bool

        public var description: String { "\(message) at byte \(offset)" }
    }

    private enum PathComponent {
        case member(String)
        case element(Int)
    }

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0
    /// The members and elements entered so far, for naming where a failure is.
    private var path: [PathComponent] = []
    private var readingMemberName = false
    private static let maxDepth = 32

    public static func parse(_ bytes: some Collection<UInt8>) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes: Array(bytes))
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else {
            throw parser.failure("unexpected data after the JSON value")
        }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func failure(_ message: String, kind: Failure.Kind = .syntax) -> Failure {
        Failure(kind: kind, message: message, offset: index, field: fieldPath, inMemberName: readingMemberName)
    }

    private var fieldPath: String? {
        guard !path.isEmpty else { return nil }
        var text = ""
        for component in path {
            switch component {
            case .member(let name): text += (text.isEmpty ? "" : ".") + name.echoed(limit: 64)
            case .element(let index): text += "[\(index)]"
            }
        }
        return text
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private mutating func expect(_ literal: StaticString, value: JSONValue) throws(Failure) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("truncated literal") }
        let matches = literal.withUTF8Buffer { buffer in
            buffer.elementsEqual(bytes[index..<index + count])
        }
        guard matches else { throw failure("invalid literal") }
        index += count
        return value
    }

    private mutating func parseValue() throws(Failure) -> JSONValue {
        guard let byte = current else { throw failure("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
        case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
        case UInt8(ascii: "n"): return try expect("null", value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw failure("unexpected character")
        }
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw failure("nesting deeper than \(Self.maxDepth)") }
    }

    private mutating func parseObject() throws(Failure) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var members: [(String, JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a member name") }
            readingMemberName = true
            let key = try parseString()
            readingMemberName = false
            guard seen.insert(key).inserted else { throw failure("duplicate member \"\(key.echoed(limit: 64))\"") }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':'") }
            index += 1
            skipWhitespace()
            path.append(.member(key))
            members.append((key, try parseValue()))
            path.removeLast()
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            case nil: throw failure("unexpected end of input")
            default: throw failure("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws(Failure) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            path.append(.element(elements.count))
            elements.append(try parseValue())
            path.removeLast()
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(elements)
            case nil: throw failure("unexpected end of input")
            default: throw failure("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(Failure) -> String {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, isDigit(first) else { throw failure("invalid number") }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            while let byte = current, isDigit(byte) { index += 1 }
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let byte = current, isDigit(byte) else { throw failure("invalid number") }
            while let byte = current, isDigit(byte) { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let byte = current, isDigit(byte) else { throw failure("invalid number") }
            while let byte = current, isDigit(byte) { index += 1 }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func parseString() throws(Failure) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flushRun(_ parser: JSONParser, into scalars: inout String.UnicodeScalarView) throws(Failure) {
            guard runStart < parser.index else { return }
            guard let text = String(validating: parser.bytes[runStart..<parser.index], as: UTF8.self) else {
                throw parser.failure("invalid UTF-8 in string")
            }
            scalars.append(contentsOf: text.unicodeScalars)
        }
        var escaped = false
        while true {
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\"") where !escaped:
                // Most strings hold no escape: their bytes are the text, read in one step.
                guard let text = String(validating: bytes[runStart..<index], as: UTF8.self) else {
                    throw failure("invalid UTF-8 in string")
                }
                index += 1
                return text
            case UInt8(ascii: "\""):
                try flushRun(self, into: &scalars)
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                escaped = true
                try flushRun(self, into: &scalars)
                index += 1
                scalars.append(try parseEscape())
                runStart = index
            case 0x00..<0x20:
                throw failure("control character in string")
            default:
                index += 1
            }
        }
    }

    private mutating func parseEscape() throws(Failure) -> Unicode.Scalar {
        guard let byte = current else { throw failure("unterminated escape") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHex4()
            if (0xD800...0xDBFF).contains(high) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure(Self.unpairedSurrogate, kind: .invalidText)
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw failure(Self.unpairedSurrogate, kind: .invalidText) }
                let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                return Unicode.Scalar(value)!
            }
            // A low surrogate without a high one before it.
            guard let scalar = Unicode.Scalar(high) else { throw failure(Self.unpairedSurrogate, kind: .invalidText) }
            return scalar
        default:
            throw failure("invalid escape")
        }
    }

    private static let unpairedSurrogate = "unpaired UTF-16 surrogate escape in string"

    private mutating func parseHex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}
