import CashierCore
public import Foundation

/// Alipay OpenAPI's wire details (CHANNELS.md, "Alipay OpenAPI"), free of I/O so they can be
/// checked against the documented examples.
public enum AlipayProtocol {
    /// The string that is signed: every parameter but the excluded ones, empty values dropped,
    /// sorted by key in byte order, joined as `k=v` with `&`, values raw (not URL-encoded).
    public static func signingContent(_ parameters: [(String, String)], excluding: Set<String> = ["sign"]) -> String {
        parameters
            .filter { !excluding.contains($0.0) && !$0.1.isEmpty }
            .sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// The exact bytes of the `…_response` object and the top-level `sign`, as received. The
    /// signature covers these bytes, never a re-serialisation of them.
    public static func signedResponse(in body: [UInt8], responseKey: String) -> (response: ArraySlice<UInt8>, sign: String?)? {
        guard let members = TopLevelMembers(body) else { return nil }
        guard let response = members.value(of: responseKey), response.first == UInt8(ascii: "{") else { return nil }
        var sign: String? = nil
        if let raw = members.value(of: "sign"), case .string(let text)? = try? JSONParser.parse(raw) { sign = text }
        return (response, sign)
    }

    /// `timestamp` in Beijing time (UTC+8), `yyyy-MM-dd HH:mm:ss`. The documentation gives no
    /// zone; the SDKs format the local time of servers in China, so UTC+8 is the safe reading.
    public static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return "\(c.year ?? 1970)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))"
    }

    /// `subject`: the item, without the characters Alipay forbids there (`/ = &`), ≤ 256.
    public static func subject(itemID: String, orderID: String) -> String {
        let text = "Order \(orderID) item \(itemID)"
        return String(text.map { "/=&".contains($0) ? "-" : $0 }.prefix(256))
    }
}

/// The members of a top-level JSON object as raw byte ranges (strings and nesting respected).
struct TopLevelMembers {
    private var members: [(String, ArraySlice<UInt8>)] = []

    init?(_ bytes: [UInt8]) {
        var index = 0
        func skipSpace() { while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 } }
        /// Index just past the string starting at `index` (which is a quote).
        func endOfString(_ start: Int) -> Int? {
            var i = start + 1
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "\\") { i += 2; continue }
                if bytes[i] == UInt8(ascii: "\"") { return i + 1 }
                i += 1
            }
            return nil
        }
        /// Index just past the value starting at `index`.
        func endOfValue(_ start: Int) -> Int? {
            guard start < bytes.count else { return nil }
            switch bytes[start] {
            case UInt8(ascii: "\""): return endOfString(start)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                var i = start
                while i < bytes.count {
                    switch bytes[i] {
                    case UInt8(ascii: "\""):
                        guard let end = endOfString(i) else { return nil }
                        i = end
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { return i + 1 }
                    default: break
                    }
                    i += 1
                }
                return nil
            default:
                var i = start
                while i < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), 0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
                return i
            }
        }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        while true {
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "}") { return }
            guard bytes[index] == UInt8(ascii: "\""), let keyEnd = endOfString(index),
                case .string(let key)? = try? JSONParser.parse(bytes[index..<keyEnd])
            else { return nil }
            index = keyEnd
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            guard let valueEnd = endOfValue(index) else { return nil }
            members.append((key, bytes[index..<valueEnd]))
            index = valueEnd
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") { index += 1 }
        }
    }

    func value(of key: String) -> ArraySlice<UInt8>? { members.first { $0.0 == key }?.1 }
}
