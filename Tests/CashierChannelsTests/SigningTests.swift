import _CryptoExtras
import CashierChannels
import CashierCore
import Crypto
import Foundation
import Testing

/// The signing rules of CHANNELS.md, checked against the documented example string and against
/// an independent RSA implementation (the `openssl` command line), and AES-256-GCM against the
/// GCM specification's published test vector.
@Suite struct SigningTests {
    @Test func alipaySigningStringMatchesTheDocumentedExample() {
        let parameters = [
            ("sign", "ignored"), ("timestamp", "2024-01-02 03:04:05"), ("method", "alipay.trade.pay"), ("app_id", "2014072300007148"),
            ("notify_url", ""), ("charset", "utf-8"), ("version", "1.0"), ("sign_type", "RSA2"), ("format", "JSON"),
            ("biz_content", #"{"out_trade_no":"X1","total_amount":"88.88"}"#),
        ]
        #expect(AlipayProtocol.signingContent(parameters) ==
            #"app_id=2014072300007148&biz_content={"out_trade_no":"X1","total_amount":"88.88"}&charset=utf-8&format=JSON&method=alipay.trade.pay&sign_type=RSA2&timestamp=2024-01-02 03:04:05&version=1.0"#)
    }

    @Test func alipayNotificationsAreSignedWithoutSignType() {
        let form = [("sign_type", "RSA2"), ("sign", "x"), ("trade_status", "TRADE_SUCCESS"), ("app_id", "1"), ("empty", "")]
        #expect(AlipayProtocol.signingContent(form, excluding: ["sign", "sign_type"]) == "app_id=1&trade_status=TRADE_SUCCESS")
    }

    @Test func alipayTimestampIsBeijingTime() {
        #expect(AlipayProtocol.timestamp(Date(timeIntervalSince1970: 1_704_164_645)) == "2024-01-02 11:04:05")
    }

    @Test func theSignedResponseIsTakenAsTheExactBytesReceived() throws {
        let body = #"{"sign":"c2ln","alipay_trade_pay_response" : {"code":"10000","msg":"Success","note":"a } and \" and { inside","n":{"x":[1,{"y":2}]}} }"#
        let found = try #require(AlipayProtocol.signedResponse(in: Array(body.utf8), responseKey: "alipay_trade_pay_response"))
        #expect(String(decoding: found.response, as: UTF8.self) == #"{"code":"10000","msg":"Success","note":"a } and \" and { inside","n":{"x":[1,{"y":2}]}}"#)
        #expect(found.sign == "c2ln")
        #expect(AlipayProtocol.signedResponse(in: Array(#"{"error_response":{"code":"40002"}}"#.utf8), responseKey: "alipay_trade_pay_response") == nil)
    }

    @Test func wechatRequestMessageEndsEveryLineWithANewline() {
        #expect(WeChatProtocol.requestMessage(method: "GET", canonicalURL: "/v3/pay/transactions/out-trade-no/ck1?mchid=19", timestamp: 1554208460,
            nonce: "593BEC0C930BF1AFEB40B4A08C8FB242", body: "") == "GET\n/v3/pay/transactions/out-trade-no/ck1?mchid=19\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n")
    }

    /// A fresh 2048-bit key, made off the cooperative threads (`offPool`).
    static func newKey() async throws -> _RSA.Signing.PrivateKey {
        try await offPool { try _RSA.Signing.PrivateKey(keySize: .bits2048) }
    }

    @Test func wechatAuthorizationHeaderRoundTrips() async throws {
        let key = try await Self.newKey()
        let header = WeChatProtocol.authorization(
            mchid: "1900000001", serialNo: "SERIAL", method: "POST", canonicalURL: "/v3/papay/pay/transactions/apply", body: "{}", timestamp: 1700000000,
            nonce: "NONCE", key: key)
        let fields = try #require(WeChatProtocol.authorizationFields(header))
        #expect(fields["mchid"] == "1900000001" && fields["serial_no"] == "SERIAL" && fields["timestamp"] == "1700000000" && fields["nonce_str"] == "NONCE")
        let message = WeChatProtocol.requestMessage(method: "POST", canonicalURL: "/v3/papay/pay/transactions/apply", timestamp: 1700000000, nonce: "NONCE", body: "{}")
        #expect(RSASignature.isValid(fields["signature"]!, for: Array(message.utf8), with: key.publicKey))
    }

    @Test func wechatAnswersAreRefusedWhenStaleForgedOrFromAnUnknownKey() async throws {
        let platform = try await Self.newKey()
        let other = try await Self.newKey()
        let body = Array(#"{"trade_state":"SUCCESS"}"#.utf8)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let signature = WeChatProtocol.signAnswer(body: body, timestamp: 1_700_000_000, nonce: "n", key: platform)
        let keys = ["PUB_1": platform.publicKey]
        #expect(WeChatProtocol.verify(timestamp: "1700000000", nonce: "n", signature: signature, serial: "PUB_1", body: body, platformKeys: keys, now: now) == nil)
        #expect(WeChatProtocol.verify(timestamp: "1700000000", nonce: "n", signature: signature, serial: "PUB_2", body: body, platformKeys: keys, now: now) == .unknownSerial("PUB_2"))
        #expect(WeChatProtocol.verify(timestamp: "1700000000", nonce: "n", signature: signature, serial: "PUB_1", body: body, platformKeys: keys,
            now: now.addingTimeInterval(300)) == .staleTimestamp(1_700_000_000))
        let forged = WeChatProtocol.signAnswer(body: body, timestamp: 1_700_000_000, nonce: "n", key: other)
        #expect(WeChatProtocol.verify(timestamp: "1700000000", nonce: "n", signature: forged, serial: "PUB_1", body: body, platformKeys: keys, now: now) == .badSignature)
        #expect(WeChatProtocol.verify(timestamp: "1700000000", nonce: "n", signature: signature, serial: "PUB_1", body: body + [0x20], platformKeys: keys, now: now) == .badSignature)
        for extreme in [Int64.min, Int64.max, -1] {
            #expect(WeChatProtocol.verify(timestamp: String(extreme), nonce: "n", signature: signature, serial: "PUB_1", body: body, platformKeys: keys, now: now)
                == .staleTimestamp(extreme), "a timestamp of \(extreme) is refused, never a trap")
        }
        #expect(WeChatProtocol.verify(timestamp: nil, nonce: "n", signature: signature, serial: "PUB_1", body: body, platformKeys: keys, now: now) == .missingHeaders)
    }

    /// Test case 14 of the GCM specification (McGrew & Viega): AES-256, zero key, zero 96-bit IV,
    /// one zero block → ciphertext cea7403d…, tag d0d1c8a7….
    @Test func notificationDecryptionMatchesTheGCMSpecificationVector() throws {
        let ciphertext = Self.bytes("cea7403d4d606b6e074ec5d3baf39d18") + Self.bytes("d0d1c8a799996bf0265b98b5d48ab919")
        let zeroKey = String(repeating: "\u{0}", count: 32)
        let zeroNonce = String(repeating: "\u{0}", count: 12)
        let plain = WeChatProtocol.decrypt(ciphertext: Data(ciphertext).base64EncodedString(), nonce: zeroNonce, associatedData: "", apiV3Key: zeroKey)
        #expect(plain == [UInt8](repeating: 0, count: 16))
        var tampered = ciphertext
        tampered[0] ^= 1
        #expect(WeChatProtocol.decrypt(ciphertext: Data(tampered).base64EncodedString(), nonce: zeroNonce, associatedData: "", apiV3Key: zeroKey) == nil)
        #expect(WeChatProtocol.decrypt(ciphertext: Data(ciphertext).base64EncodedString(), nonce: zeroNonce, associatedData: "x", apiV3Key: zeroKey) == nil)
    }

    @Test func notificationEncryptionRoundTripsWithTheAPIv3Key() throws {
        let key = "0123456789abcdef0123456789abcdef"
        let sealed = try #require(WeChatProtocol.encrypt(Array(#"{"a":1}"#.utf8), nonce: "abcdefghijkl", associatedData: "transaction", apiV3Key: key))
        #expect(WeChatProtocol.decrypt(ciphertext: sealed, nonce: "abcdefghijkl", associatedData: "transaction", apiV3Key: key) == Array(#"{"a":1}"#.utf8))
        #expect(WeChatProtocol.decrypt(ciphertext: sealed, nonce: "abcdefghijkl", associatedData: "transaction", apiV3Key: "X123456789abcdef0123456789abcdef") == nil)
    }

    // MARK: Against openssl

    @Test(.enabled(if: OpenSSL.isAvailable)) func signaturesAgreeWithOpenSSLBothWaysForPKCS1AndPKCS8Keys() async throws {
        let directory = try OpenSSL.temporaryDirectory()
        let message = "app_id=2021000000000001&biz_content={\"out_trade_no\":\"ck1\"}&charset=utf-8"
        try Data(message.utf8).write(to: URL(fileURLWithPath: directory + "/message"))
        for format in ["-traditional", ""] {
            try await OpenSSL.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", directory + "/key8.pem"])
            let keyFile = directory + "/key.pem"
            if format.isEmpty {
                try FileManager.default.copyItem(atPath: directory + "/key8.pem", toPath: keyFile)
            } else {
                try await OpenSSL.run(["rsa", "-traditional", "-in", directory + "/key8.pem", "-out", keyFile])
            }
            try await OpenSSL.run(["pkey", "-in", keyFile, "-pubout", "-out", directory + "/pub.pem"])
            let pem = try String(contentsOfFile: keyFile, encoding: .utf8)
            #expect(pem.contains(format.isEmpty ? "BEGIN PRIVATE KEY" : "BEGIN RSA PRIVATE KEY"))
            let key = try RSAKeys.loadPrivateKey(file: keyFile, setting: "TEST_KEY")
            let publicKey = try RSAKeys.loadPublicKey(file: directory + "/pub.pem", setting: "TEST_PUB")

            // Ours → openssl verifies.
            let ours = RSASignature.sign(Array(message.utf8), with: key)
            try Data(base64Encoded: ours)!.write(to: URL(fileURLWithPath: directory + "/ours.sig"))
            let verified = try await OpenSSL.run(["dgst", "-sha256", "-verify", directory + "/pub.pem", "-signature", directory + "/ours.sig", directory + "/message"])
            #expect(verified.contains("Verified OK"))
            // openssl → ours verifies.
            try await OpenSSL.run(["dgst", "-sha256", "-sign", keyFile, "-out", directory + "/theirs.sig", directory + "/message"])
            let theirs = try Data(contentsOf: URL(fileURLWithPath: directory + "/theirs.sig")).base64EncodedString()
            #expect(RSASignature.isValid(theirs, for: Array(message.utf8), with: publicKey))
            #expect(!RSASignature.isValid(theirs, for: Array((message + " ").utf8), with: publicKey))
            try FileManager.default.removeItem(atPath: keyFile)
        }
    }

    // MARK: Key files

    @Test func unusableKeyFilesAreNamedWithTheFixAndNeverShown() async throws {
        let directory = try OpenSSL.temporaryDirectory()
        let key = try await Self.newKey()
        func write(_ name: String, _ text: String) throws -> String {
            let path = directory + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        func failure(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        let missing = failure { _ = try RSAKeys.loadPrivateKey(file: directory + "/nope.pem", setting: "CASHIER_ALIPAY_PRIVATE_KEY_FILE") }
        #expect(missing.contains("CASHIER_ALIPAY_PRIVATE_KEY_FILE") && missing.contains("nope.pem"))
        let publicInPrivateSlot = try write("pub.pem", key.publicKey.pemRepresentation)
        #expect(failure { _ = try RSAKeys.loadPrivateKey(file: publicInPrivateSlot, setting: "K") }.contains("not a private key"))
        let privateInPublicSlot = try write("priv.pem", key.pemRepresentation)
        let shown = failure { _ = try RSAKeys.loadPublicKey(file: privateInPublicSlot, setting: "K") }
        #expect(shown.contains("private key where a public key belongs"))
        let body = key.pemRepresentation.split(separator: "\n")[1]
        #expect(!shown.contains(body), "the key itself never appears in an error")
        let certificate = try write("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        #expect(failure { _ = try RSAKeys.loadPublicKey(file: certificate, setting: "K") }.contains("openssl x509"))
        let garbage = try write("garbage.pem", "hello")
        #expect(failure { _ = try RSAKeys.loadPublicKey(file: garbage, setting: "K") }.contains("not PEM"))
        // Alipay's console hands out its public key as a bare base64 body: accepted.
        let bare = key.publicKey.pemRepresentation.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        #expect(throws: Never.self) { _ = try RSAKeys.publicKey(pem: bare, source: "K") }
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}

/// The `openssl` command line, as an independent implementation to check against.
enum OpenSSL {
    static let path = ["/usr/bin/openssl", "/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isAvailable: Bool { path != nil }

    /// Runs openssl and waits for it off the cooperative threads (`offPool`).
    @discardableResult
    static func run(_ arguments: [String]) async throws -> String {
        try await offPool { try runAndWait(arguments) }
    }

    private static func runAndWait(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path!)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else { throw KeyError("openssl \(arguments.joined(separator: " ")) failed: \(text)") }
        return text
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "cashier-signing-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
