public import _CryptoExtras
import Crypto
public import Foundation

/// A key file that cannot be used. The message names the file (or setting) and the fix, and
/// never a byte of the key.
public struct KeyError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// RSA keys from PEM text: private keys as PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`),
/// public keys as SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`). A bare base64 body without
/// PEM armour is accepted too: that is how Alipay's console hands out its public key.
public enum RSAKeys {
    public static func privateKey(pem: String, source: String) throws(KeyError) -> _RSA.Signing.PrivateKey {
        let (label, der) = try decode(pem, source: source)
        switch label {
        case "ENCRYPTED PRIVATE KEY":
            throw KeyError("\(source) holds an encrypted private key; store it decrypted (openssl pkey -in FILE -out PLAIN.pem) and protect the file instead")
        case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
            throw KeyError("\(source) holds a \(label.lowercased()), not a private key; point it at the RSA private key (PEM)")
        default:
            do {
                return try _RSA.Signing.PrivateKey(derRepresentation: der)
            } catch {
                throw KeyError("\(source) is not a usable RSA private key of 2048 bits or more (PKCS#1 or PKCS#8 PEM)")
            }
        }
    }

    public static func publicKey(pem: String, source: String) throws(KeyError) -> _RSA.Signing.PublicKey {
        let (label, der) = try decode(pem, source: source)
        switch label {
        case "CERTIFICATE":
            throw KeyError("\(source) holds a certificate; extract its public key (openssl x509 -in FILE -pubkey -noout) and use that")
        case "PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
            throw KeyError("\(source) holds a private key where a public key belongs; use the matching public key (PEM)")
        default:
            do {
                return try _RSA.Signing.PublicKey(derRepresentation: der)
            } catch {
                throw KeyError("\(source) is not a usable RSA public key of 2048 bits or more (SPKI or PKCS#1 PEM)")
            }
        }
    }

    public static func loadPrivateKey(file: String, setting: String) throws(KeyError) -> _RSA.Signing.PrivateKey {
        try privateKey(pem: text(file, setting: setting), source: "\(setting) (\(file))")
    }

    public static func loadPublicKey(file: String, setting: String) throws(KeyError) -> _RSA.Signing.PublicKey {
        try publicKey(pem: text(file, setting: setting), source: "\(setting) (\(file))")
    }

    /// A key file's text; a missing or unreadable file is an error naming the setting.
    public static func text(_ file: String, setting: String) throws(KeyError) -> String {
        guard FileManager.default.fileExists(atPath: file) else { throw KeyError("\(setting): no file at \(file); check the path") }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw KeyError("\(setting): cannot read \(file); check its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw KeyError("\(setting): \(file) is not PEM text") }
        return text
    }

    /// The PEM label and the DER bytes.
    static func decode(_ text: String, source: String) throws(KeyError) -> (String, Data) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw KeyError("\(source) is empty; it should hold a PEM key") }
        var label = ""
        var body = trimmed
        if trimmed.hasPrefix("-----BEGIN ") {
            let lines = trimmed.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = lines.first, first.hasSuffix("-----"),
                let endIndex = lines.firstIndex(where: { $0.hasPrefix("-----END ") })
            else {
                throw KeyError("\(source) has a broken PEM armour (BEGIN without END)")
            }
            label = String(first.dropFirst("-----BEGIN ".count).dropLast(5))
            if lines[1..<endIndex].contains(where: { $0.hasPrefix("Proc-Type:") }) {
                throw KeyError("\(source) holds an encrypted private key; store it decrypted (openssl pkey -in FILE -out PLAIN.pem) and protect the file instead")
            }
            body = lines[1..<endIndex].joined()
        } else {
            body = trimmed.filter { !$0.isWhitespace }
        }
        guard let der = Data(base64Encoded: body), !der.isEmpty else { throw KeyError("\(source) is not PEM: its body is not base64") }
        return (label, der)
    }
}

/// SHA256withRSA (PKCS#1 v1.5), base64 signatures: what Alipay's RSA2 and WeChat Pay's
/// WECHATPAY2-SHA256-RSA2048 both use.
public enum RSASignature {
    public static func sign(_ message: some DataProtocol, with key: _RSA.Signing.PrivateKey) -> String {
        // Signing with a valid key over a digest does not fail; a failure here is a broken key.
        let signature = try! key.signature(for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5)
        return signature.rawRepresentation.base64EncodedString()
    }

    public static func isValid(_ base64: String, for message: some DataProtocol, with key: _RSA.Signing.PublicKey) -> Bool {
        guard let raw = Data(base64Encoded: base64) else { return false }
        return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: raw), for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5)
    }
}
