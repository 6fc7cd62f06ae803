/// `application/x-www-form-urlencoded` escaping: unreserved characters stay, the rest is %XX.
///
/// Byte by byte, without Foundation: both directions run on every channel call (the card
/// adapter's form, the sandbox's parsing of it), and Foundation's `replacingOccurrences` and
/// `removingPercentEncoding` were a fifth of the sandbox's CPU in the bench (perf, scenario 1).
public enum FormEncoding {
    public static func escape(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                bytes.append(byte)
            } else {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hexDigits[Int(byte >> 4)])
                bytes.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes a form body into ordered pairs (used by the sandbox and the notification
    /// receiver), as the URL Standard's form parser does: split at the bytes `&` and `=`, a `+`
    /// is a space, `%XX` is a byte, and the bytes are UTF-8, a leading byte order mark kept.
    /// A name or value with a broken `%` escape, or whose bytes are not UTF-8, is kept as it
    /// came, `+` and all (as before).
    ///
    /// Foundation's string functions, used before, differed on text no form encoder writes: they
    /// split at characters, so a raw `=`, `&` or `+` joined to a combining mark was not one; they
    /// dropped a leading byte order mark; they read a lone `%A9` as U+FFFD. A channel signs the
    /// values themselves, so reading them as the standard does is what its signature covers.
    public static func decode(_ body: String) -> [(String, String)] {
        body.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            return (unescape(parts[0]), parts.count > 1 ? unescape(parts[1]) : "")
        }
    }

    private static func unescape(_ raw: Substring.UTF8View) -> String {
        // `raw` is a slice of a string cut at ASCII bytes, so it is whole UTF-8 as it stands.
        var asItCame: String { String(decoding: raw, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index != raw.endIndex {
            let byte = raw[index]
            index = raw.index(after: index)
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard index != raw.endIndex, let high = hexValue(raw[index]) else { return asItCame }
                index = raw.index(after: index)
                guard index != raw.endIndex, let low = hexValue(raw[index]) else { return asItCame }
                index = raw.index(after: index)
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? asItCame
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
