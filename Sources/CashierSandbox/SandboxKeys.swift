public import _CryptoExtras
public import CashierChannels
import Foundation

/// The key material of a development setup: Cashier's side (the Alipay app key, the WeChat Pay
/// merchant key) and the channels' side (their platform keys), as files in one directory.
/// `cashier sandbox keys` writes a matching set; the sandbox reads its half, Cashier the other.
public struct SandboxKeys: Sendable {
    public static let alipayAppID = "2021000000000001"
    public static let wechatMchid = "1900000001"
    public static let wechatAppid = "wx8888888888888888"
    public static let wechatMerchantSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    public static let wechatPlatformSerial = "PUB_KEY_ID_0119000000012024SANDBOX"

    public let alipayAppPublic: _RSA.Signing.PublicKey
    public let alipayPlatformPrivate: _RSA.Signing.PrivateKey
    public let wechatMerchantPublic: _RSA.Signing.PublicKey
    public let wechatPlatformPrivate: _RSA.Signing.PrivateKey
    public let wechatAPIv3Key: String

    /// File names inside the directory.
    public enum File {
        public static let alipayAppPrivate = "alipay_app_private.pem"
        public static let alipayAppPublic = "alipay_app_public.pem"
        public static let alipayPlatformPrivate = "alipay_platform_private.pem"
        public static let alipayPlatformPublic = "alipay_public.pem"
        public static let wechatMerchantPrivate = "wechat_merchant_private.pem"
        public static let wechatMerchantPublic = "wechat_merchant_public.pem"
        public static let wechatPlatformPrivate = "wechat_platform_private.pem"
        public static let wechatPlatformPublic = "wechat_platform_public.pem"
        public static let wechatAPIv3Key = "wechat_apiv3.key"
        public static let environment = "cashier.env"
    }

    /// Writes a fresh matching set, and `cashier.env` with the CASHIER_* settings that point a
    /// worker at it (the sandbox URL is left for the caller to add).
    public static func generate(into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func write(_ name: String, _ text: String, secret: Bool) throws {
            let path = (directory as NSString).appendingPathComponent(name)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            if secret { try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path) }
        }
        let pairs: [(String, String)] = [
            (File.alipayAppPrivate, File.alipayAppPublic), (File.alipayPlatformPrivate, File.alipayPlatformPublic),
            (File.wechatMerchantPrivate, File.wechatMerchantPublic), (File.wechatPlatformPrivate, File.wechatPlatformPublic),
        ]
        for (privateName, publicName) in pairs {
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            try write(privateName, key.pemRepresentation, secret: true)
            try write(publicName, key.publicKey.pemRepresentation, secret: false)
        }
        let apiV3Key = WeChatProtocol.nonce()
        try write(File.wechatAPIv3Key, apiV3Key, secret: true)
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let environment = [
            "CASHIER_ALIPAY_APP_ID=\(alipayAppID)",
            "CASHIER_ALIPAY_PRIVATE_KEY_FILE=\(path(File.alipayAppPrivate))",
            "CASHIER_ALIPAY_PUBLIC_KEY_FILE=\(path(File.alipayPlatformPublic))",
            "CASHIER_WECHAT_MCHID=\(wechatMchid)",
            "CASHIER_WECHAT_APPID=\(wechatAppid)",
            "CASHIER_WECHAT_SERIAL_NO=\(wechatMerchantSerial)",
            "CASHIER_WECHAT_PRIVATE_KEY_FILE=\(path(File.wechatMerchantPrivate))",
            "CASHIER_WECHAT_PLATFORM_PUBLIC_KEY_FILE=\(path(File.wechatPlatformPublic))",
            "CASHIER_WECHAT_PLATFORM_SERIAL=\(wechatPlatformSerial)",
            "CASHIER_WECHAT_APIV3_KEY=\(apiV3Key)",
        ]
        try write(File.environment, environment.joined(separator: "\n") + "\n", secret: true)
    }

    /// The sandbox's half of a set written by `generate`.
    public static func load(from directory: String) throws(KeyError) -> SandboxKeys {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let apiV3Key = try RSAKeys.text(path(File.wechatAPIv3Key), setting: "--keys-dir").trimmingCharacters(in: .whitespacesAndNewlines)
        return SandboxKeys(
            alipayAppPublic: try RSAKeys.loadPublicKey(file: path(File.alipayAppPublic), setting: "--keys-dir"),
            alipayPlatformPrivate: try RSAKeys.loadPrivateKey(file: path(File.alipayPlatformPrivate), setting: "--keys-dir"),
            wechatMerchantPublic: try RSAKeys.loadPublicKey(file: path(File.wechatMerchantPublic), setting: "--keys-dir"),
            wechatPlatformPrivate: try RSAKeys.loadPrivateKey(file: path(File.wechatPlatformPrivate), setting: "--keys-dir"),
            wechatAPIv3Key: apiV3Key)
    }
}
