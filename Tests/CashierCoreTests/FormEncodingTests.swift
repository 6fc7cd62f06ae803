import Foundation
import PropertyBased
import Testing
@testable import CashierCore

/// `FormEncoding` works on bytes for speed; it must still do exactly what Foundation's string
/// functions did, because notification signatures are checked over the decoded values.
@Suite struct FormEncodingTests {
    /// The Foundation version it replaced, kept as the reference.
    static func foundationEscape(_ text: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved)!
    }

    static func foundationDecode(_ body: String) -> [(String, String)] {
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

    @Test func escapingIsFoundations() async {
        let texts = Gen.element(of: Self.pieces).array(of: 0...10).map { $0.compactMap { $0 }.joined() }
        await propertyCheck(count: 2000, input: texts) { text in
            #expect(FormEncoding.escape(text) == Self.foundationEscape(text))
        }
    }

    @Test func decodingIsFoundations() async {
        let bodies = Gen.element(of: Self.pieces).array(of: 0...14).map { $0.compactMap { $0 }.joined() }
        await propertyCheck(count: 3000, input: bodies) { body in
            let decoded = FormEncoding.decode(body)
            let reference = Self.foundationDecode(body)
            #expect(decoded.map(\.0) == reference.map(\.0), "\(body)")
            #expect(decoded.map(\.1) == reference.map(\.1), "\(body)")
            // What is escaped decodes back to itself.
            #expect(FormEncoding.decode("k=" + FormEncoding.escape(body)).first?.1 == body)
        }
    }
}
