import Foundation
import PropertyBased
import Testing
@testable import CashierCore

/// `FormEncoding` works on bytes for speed; on any text a form encoder writes it must do what the
/// Foundation version it replaced did, because notification signatures are checked over the
/// decoded values. Where Foundation departed from the URL Standard's form parser (on text no
/// encoder writes), it now follows the standard: those cases are listed on their own.
@Suite struct FormEncodingTests {
    /// The escape it replaced, as it was.
    static func previousEscape(_ text: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        var result = ""
        for byte in text.utf8 {
            if unreserved.contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }

    /// The decode it replaced, as it was.
    static func previousDecode(_ body: String) -> [(String, String)] {
        body.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }

    static let pieces = ["a", "Z", "9", "-", ".", "_", "~", " ", "+", "&", "=", "%", "%2", "%2B", "%2b", "%zz", "%C3%A9", "%C3", "%FF", "%00",
                         "é", "中", "😀", "\u{0}", "/", "?", "#"]

    @Test func knownCases() {
        #expect(FormEncoding.escape("a b&c=d/é") == "a%20b%26c%3Dd%2F%C3%A9")
        #expect(FormEncoding.decode("a=1&b=x+y&c=%E4%B8%AD&&d&e=%zz+q&f=%C3").map { "\($0.0)=\($0.1)" }
            == ["a=1", "b=x y", "c=中", "d=", "e=%zz+q", "f=%C3"])
    }

    /// Where Foundation's character-based functions departed from the standard's byte-based
    /// parser, the standard's answer (review finding, helper-50).
    @Test func whereFoundationDepartedTheStandardDecides() {
        func decoded(_ body: String) -> [String] { FormEncoding.decode(body).map { "\($0.0)=\($0.1)" } }
        // `=`, `&` and `+` are bytes, even before a combining mark (Foundation saw one character).
        #expect(decoded("a=\u{301}b") == ["a=\u{301}b"])
        #expect(decoded("a=1&\u{301}=2") == ["a=1", "\u{301}=2"])
        #expect(decoded("a=+\u{301}") == ["a= \u{301}"])
        // A leading byte order mark is part of the value (Foundation dropped it).
        #expect(decoded("%EF%BB%BFa=%EF%BB%BFb") == ["\u{FEFF}a=\u{FEFF}b"])
        // Bytes that are not UTF-8 keep the text as it came (Foundation read a lone %A9 as U+FFFD).
        #expect(decoded("a=%A9") == ["a=%A9"])
    }

    @Test func escapingIsAsBefore() async {
        let texts = Gen.element(of: Self.pieces).array(of: 0...10).map { $0.compactMap { $0 }.joined() }
        await propertyCheck(count: 2000, input: texts) { text in
            #expect(FormEncoding.escape(text) == Self.previousEscape(text))
        }
    }

    @Test func decodingIsAsBefore() async {
        let bodies = Gen.element(of: Self.pieces).array(of: 0...14).map { $0.compactMap { $0 }.joined() }
        await propertyCheck(count: 3000, input: bodies) { body in
            let decoded = FormEncoding.decode(body)
            let reference = Self.previousDecode(body)
            #expect(decoded.map(\.0) == reference.map(\.0), "\(body)")
            #expect(decoded.map(\.1) == reference.map(\.1), "\(body)")
            // What is escaped decodes back to itself.
            #expect(FormEncoding.decode("k=" + FormEncoding.escape(body)).first?.1 == body)
        }
    }
}
