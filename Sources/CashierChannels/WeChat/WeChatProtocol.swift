public import _CryptoExtras
import Crypto
public import Foundation

/// WeChat Pay API v3's signatures and notification encryption (CHANNELS.md, "WeChat Pay API
/// v3"), free of I/O so they can be checked against independent implementations.
public enum WeChatProtocol {
    /// `METHOD\nCANONICAL_URL\nTIMESTAMP\nNONCE\nBODY\n` — the canonical URL is the path and
    /// query without the host; a GET has an empty body.
    public static func requestMessage(method: String, canonicalURL: String, timestamp: Int64, nonce: String, body: String) -> String {
        "\(method)\n\(canonicalURL)\n\(timestamp)\n\(nonce)\n\(body)\n"
    }

    public static func authorization(
        mchid: String, serialNo: String, method: String, canonicalURL: String, body: String, timestamp: Int64, nonce: String,
        key: _RSA.Signing.PrivateKey
    ) -> String {
        let message = requestMessage(method: method, canonicalURL: canonicalURL, timestamp: timestamp, nonce: nonce, body: body)
        let signature = RSASignature.sign(Array(message.utf8), with: key)
        return #"WECHATPAY2-SHA256-RSA2048 mchid="\#(mchid)",nonce_str="\#(nonce)",timestamp="\#(timestamp)",serial_no="\#(serialNo)",signature="\#(signature)""#
    }

    /// The fields of an `Authorization: WECHATPAY2-SHA256-RSA2048 k="v",…` header.
    public static func authorizationFields(_ header: String) -> [String: String]? {
        let scheme = "WECHATPAY2-SHA256-RSA2048 "
        guard header.hasPrefix(scheme) else { return nil }
        var fields: [String: String] = [:]
        for part in header.dropFirst(scheme.count).split(separator: ",") {
            guard let equals = part.firstIndex(of: "=") else { return nil }
            let name = part[..<equals].trimmingCharacters(in: .whitespaces)
            var value = part[part.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 else { return nil }
            value = String(value.dropFirst().dropLast())
            fields[name] = value
        }
        return fields
    }

    /// Why a signed answer (response or notification) is not believed, or nil when it is.
    public enum Refusal: Sendable, Equatable, CustomStringConvertible {
        case missingHeaders, unknownSerial(String), staleTimestamp(Int64), badSignature
        public var description: String {
            switch self {
            case .missingHeaders: "Wechatpay-Timestamp/-Nonce/-Signature/-Serial headers missing"
            case .unknownSerial(let serial): "signed by platform key \(serial), which is not configured"
            case .staleTimestamp(let timestamp): "timestamp \(timestamp) is 5 minutes or more away from now"
            case .badSignature: "signature does not verify"
            }
        }
    }

    /// Verifies `TIMESTAMP\nNONCE\nBODY\n` with the platform key named by `Wechatpay-Serial`.
    public static func verify(
        timestamp: String?, nonce: String?, signature: String?, serial: String?, body: some Collection<UInt8>,
        platformKeys: [String: _RSA.Signing.PublicKey], now: Date = Date()
    ) -> Refusal? {
        guard let timestamp, let seconds = Int64(timestamp), let nonce, let signature, let serial else { return .missingHeaders }
        guard let key = platformKeys[serial] else { return .unknownSerial(serial) }
        guard isFresh(seconds, now: now) else { return .staleTimestamp(seconds) }
        let message = Array("\(timestamp)\n\(nonce)\n".utf8) + Array(body) + [0x0A]
        return RSASignature.isValid(signature, for: message, with: key) ? nil : .badSignature
    }

    /// Whether a signed timestamp (seconds since 1970) is less than 5 minutes from `now`.
    /// Overflow-checked: a header of Int64.min or max is refused, never a trap (it is read
    /// before the signature, so anyone could send it).
    public static func isFresh(_ seconds: Int64, now: Date = Date()) -> Bool {
        let (age, overflowed) = Int64(now.timeIntervalSince1970).subtractingReportingOverflow(seconds)
        return !overflowed && age.magnitude < 300
    }

    /// Signs an answer the way the platform does (used by the sandbox).
    public static func signAnswer(body: some Collection<UInt8>, timestamp: Int64, nonce: String, key: _RSA.Signing.PrivateKey) -> String {
        RSASignature.sign(Array("\(timestamp)\n\(nonce)\n".utf8) + Array(body) + [0x0A], with: key)
    }

    /// The four headers that sign an answer or a notification, as the platform sends them.
    public static func signedHeaders(body: some Collection<UInt8>, serial: String, key: _RSA.Signing.PrivateKey) -> [(String, String)] {
        let timestamp = Int64(Date().timeIntervalSince1970)
        let nonce = nonce()
        return [
            ("Wechatpay-Timestamp", String(timestamp)), ("Wechatpay-Nonce", nonce),
            ("Wechatpay-Signature", signAnswer(body: body, timestamp: timestamp, nonce: nonce, key: key)), ("Wechatpay-Serial", serial),
        ]
    }

    /// Opens a notification's `resource`: AES-256-GCM with the APIv3 key, the 16-byte tag at
    /// the end of the base64 ciphertext. Nil when it does not authenticate.
    public static func decrypt(ciphertext: String, nonce: String, associatedData: String, apiV3Key: String) -> [UInt8]? {
        guard let combined = Data(base64Encoded: ciphertext), combined.count >= 16, apiV3Key.utf8.count == 32 else { return nil }
        let key = SymmetricKey(data: Array(apiV3Key.utf8))
        guard let nonceValue = try? AES.GCM.Nonce(data: Array(nonce.utf8)),
            let box = try? AES.GCM.SealedBox(nonce: nonceValue, ciphertext: combined.dropLast(16), tag: combined.suffix(16)),
            let plain = try? AES.GCM.open(box, using: key, authenticating: Array(associatedData.utf8))
        else { return nil }
        return Array(plain)
    }

    /// Seals a notification resource (used by the sandbox): base64 of ciphertext + tag.
    public static func encrypt(_ plaintext: [UInt8], nonce: String, associatedData: String, apiV3Key: String) -> String? {
        guard apiV3Key.utf8.count == 32, let nonceValue = try? AES.GCM.Nonce(data: Array(nonce.utf8)),
            let box = try? AES.GCM.seal(plaintext, using: SymmetricKey(data: Array(apiV3Key.utf8)), nonce: nonceValue, authenticating: Array(associatedData.utf8))
        else { return nil }
        return (box.ciphertext + box.tag).base64EncodedString()
    }

    /// A random 32-character nonce of letters and digits.
    public static func nonce() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet.randomElement(using: &generator)! })
    }
}
