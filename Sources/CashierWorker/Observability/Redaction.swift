import Foundation
import Kafka

/// Masks what must never reach a log line: passwords in URLs, API secret keys, private keys,
/// the values of secret librdkafka properties (`KafkaConfiguration.isSecret`, the same rule
/// `cashier config check` masks by), and buyers' saved credentials — `payment_method` values
/// (card payment-method tokens, Alipay `agreement_no`, WeChat Pay `contract_id`) — beyond a
/// short prefix.
public enum Redaction {
    /// Names under which a buyer's saved credential travels (events, channel requests, Swift
    /// descriptions of orders).
    public static let credentialKeys = ["payment_method", "paymentMethod", "agreement_no", "contract_id"]

    /// A log message, or any text, with every secret and credential it holds masked.
    public static func mask(_ text: String) -> String {
        guard mayHoldSecret(text) else { return text }
        var result = text
        for rule in rules { result = rule.apply(to: result) }
        return result
    }

    /// Whether any rule below could match: every rule needs a `=`, `:` or `@`, a private key's
    /// armour, a key or credential prefix, or a run of 14 digits (or a non-ASCII character). Most log values (order ids,
    /// codes, counts) have none, and skip the regular expressions (found by `perf`: ICU regex
    /// matching was 2% of the demo pipeline's CPU).
    static func mayHoldSecret(_ text: String) -> Bool {
        var digits = 0
        for byte in text.utf8 {
            switch byte {
            // Non-ASCII too: the rules' `\d` is any decimal digit, full-width ones included.
            case UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), 0x80...:
                return true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits += 1
                if digits >= 14 { return true }
            default:
                digits = 0
            }
        }
        return shapePrefixes.contains { text.contains($0) }
    }

    private static let shapePrefixes = ["PRIVATE KEY", "sk_", "rk_", "pm_", "AGR_", "wx_contract_"]

    /// A metadata value logged under `key`: a credential or secret key masks the whole value,
    /// any other value is masked like a message.
    public static func mask(metadataKey key: String, _ value: String) -> String {
        if credentialKeys.contains(key) { return credential(value) }
        if KafkaConfiguration.isSecret(key) || key.lowercased().contains("api_key") { return "***" }
        return mask(value)
    }

    /// A saved credential shown as at most its first four characters (fewer for a short one).
    static func credential(_ value: String) -> String {
        if value.isEmpty || value.hasSuffix("…") || value.contains("***") { return value }
        return String(value.prefix(min(4, value.count / 3))) + "…"
    }

    // MARK: Rules, in the order they apply

    /// A pattern and what each match becomes. `@unchecked`: NSRegularExpression is immutable
    /// and safe to use from any thread.
    private struct Rule: @unchecked Sendable {
        let expression: NSRegularExpression
        let replace: @Sendable (_ groups: [String?]) -> String

        init(_ pattern: String, _ replace: @escaping @Sendable (_ groups: [String?]) -> String) {
            expression = try! NSRegularExpression(pattern: pattern)
            self.replace = replace
        }

        /// `$1`…`$9` in `template` stand for the groups.
        init(_ pattern: String, template: String) {
            self.init(pattern) { groups in
                var result = ""
                var characters = template.makeIterator()
                while let character = characters.next() {
                    guard character == "$" else {
                        result.append(character)
                        continue
                    }
                    guard let digit = characters.next() else { break }
                    if let index = digit.wholeNumberValue, index < groups.count { result += groups[index] ?? "" }
                }
                return result
            }
        }

        func apply(to text: String) -> String {
            let string = NSString(string: text)
            let matches = expression.matches(in: text, range: NSRange(location: 0, length: string.length))
            guard !matches.isEmpty else { return text }
            var result = ""
            var last = 0
            for match in matches {
                result += string.substring(with: NSRange(location: last, length: match.range.location - last))
                let groups = (0..<match.numberOfRanges).map { index -> String? in
                    let range = match.range(at: index)
                    return range.location == NSNotFound ? nil : string.substring(with: range)
                }
                result += replace(groups)
                last = match.range.location + match.range.length
            }
            return result + string.substring(from: last)
        }
    }

    private static let kafkaSecrets = KafkaConfiguration.secretNamePattern
    private static let credentials = credentialKeys.joined(separator: "|")

    private static let rules: [Rule] = [
        // A PEM private key, to its end line (or the end of the text).
        Rule(#"-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"#, template: "-----BEGIN $1PRIVATE KEY-----***"),
        Rule(#"(://[^:/@\s]+):[^@\s]+@"#, template: "$1:***@"),
        Rule(#"\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9_]+"#, template: "$1***"),
        // Secret librdkafka properties as `name=value` (to the next comma, quote or line end:
        // some values hold spaces) and as JSON members, quotes escaped or not.
        Rule(#"(?i)(?<![\w.])("# + kafkaSecrets + #")(\s*=\s*)[^,\n"&]*"#, template: "$1$2***"),
        Rule(#"(?i)(\\?"|)("# + kafkaSecrets + #")\1(\s*:\s*)(\\?").*?\4"#, template: "$1$2$1$3$4***$4"),
        Rule(#"(?i)(password|passwd|apiv3_key|api_key|secret)=[^\s&,]+"#, template: "$1=***"),
        // Saved credentials by name: JSON members, `name=value`, `name: value`, Swift descriptions.
        Rule(#"(\\?"|)\b("# + credentials + #")\1(\s*[:=]\s*)(\\?")(.*?)\4"#) { groups in
            let quote = groups[1] ?? "", valueQuote = groups[4] ?? ""
            return quote + (groups[2] ?? "") + quote + (groups[3] ?? "") + valueQuote + credential(groups[5] ?? "") + valueQuote
        },
        Rule(#"(\\?"|)\b("# + credentials + #")\1(\s*[:=]\s*)([^\s"\\&,;\]\})]+)"#) { groups in
            let quote = groups[1] ?? ""
            return quote + (groups[2] ?? "") + quote + (groups[3] ?? "") + credential(groups[4] ?? "")
        },
        // Saved credentials by shape, wherever they appear: card payment-method tokens, Alipay
        // agreement numbers (16-24 digits from 20xx; trade numbers are longer), WeChat Pay contract
        // ids, and the sandbox's own shapes.
        Rule(#"\b(pm_[A-Za-z0-9]{0,4})[A-Za-z0-9_]+"#, template: "$1…"),
        Rule(#"\b(20\d{2})\d{12,20}\b"#, template: "$1…"),
        Rule(#"\b(Wx\d{2})\d{14,}\b"#, template: "$1…"),
        Rule(#"\b(AGR_|wx_contract_)[A-Za-z0-9_]+"#, template: "$1…"),
    ]
}
