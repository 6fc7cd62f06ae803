public import _CryptoExtras
public import CashierCore
public import Foundation

/// What the notification endpoint needs to check the channels' payment notifications.
public struct NotificationKeys: Sendable {
    public var alipayPublicKey: _RSA.Signing.PublicKey?
    public var alipayAppID: String?
    public var wechatPlatformKeys: [String: _RSA.Signing.PublicKey]
    public var wechatAPIv3Key: String?
    /// Our WeChat Pay merchant id: a transaction for another `mchid` is refused.
    public var wechatMchid: String?

    public init(
        alipayPublicKey: _RSA.Signing.PublicKey?, alipayAppID: String?, wechatPlatformKeys: [String: _RSA.Signing.PublicKey], wechatAPIv3Key: String?,
        wechatMchid: String? = nil
    ) {
        self.alipayPublicKey = alipayPublicKey
        self.alipayAppID = alipayAppID
        self.wechatPlatformKeys = wechatPlatformKeys
        self.wechatAPIv3Key = wechatAPIv3Key
        self.wechatMchid = wechatMchid
    }
}

/// A checked notification.
public enum NotificationVerdict: Sendable, Equatable {
    /// Genuine, and it says the payment succeeded, on these terms: settled only when they are
    /// the payment's own (`ReportedTerms`; the store compares them with the payment's amount).
    case paid(channel: Channel, outTradeNo: String, reference: String, terms: ReportedTerms)
    /// Genuine, but not a success (e.g. a closed trade): acknowledged, nothing to settle.
    case ignored(String)
    /// Forged, stale, unreadable or for another merchant: refused, with the reason logged.
    case refused(String)
}

public enum ChannelNotifications {
    /// An Alipay notification (a form POST): the signature over every parameter but `sign` and
    /// `sign_type`, empty values dropped, sorted, `k=v&…` of the URL-decoded values.
    public static func alipay(_ form: [(String, String)], keys: NotificationKeys) -> NotificationVerdict {
        guard let publicKey = keys.alipayPublicKey else { return .refused("alipay is not configured here") }
        let values = Dictionary(form, uniquingKeysWith: { first, _ in first })
        guard let sign = values["sign"] else { return .refused("alipay notification without sign") }
        let content = AlipayProtocol.signingContent(form, excluding: ["sign", "sign_type"])
        guard RSASignature.isValid(sign, for: Array(content.utf8), with: publicKey) else { return .refused("alipay notification signature does not verify") }
        guard values["app_id"] == keys.alipayAppID else { return .refused("alipay notification for app \(values["app_id"] ?? "-"), not ours") }
        guard let outTradeNo = values["out_trade_no"], let tradeNo = values["trade_no"] else { return .refused("alipay notification without out_trade_no/trade_no") }
        switch values["trade_status"] {
        case "TRADE_SUCCESS", "TRADE_FINISHED":
            // Alipay charges CNY only; an amount that does not read exactly is none.
            let amount = values["total_amount"].flatMap { Currency.cny.minorAmount(fromMajorUnitString: $0) }
            return .paid(channel: .alipay, outTradeNo: outTradeNo, reference: tradeNo, terms: ReportedTerms(amount: amount, currency: Currency.cny.code))
        case let status: return .ignored("alipay trade \(outTradeNo) is \(status ?? "without a status")")
        }
    }

    /// A WeChat Pay notification: the platform signature over `TIMESTAMP\nNONCE\nBODY\n` (stale
    /// timestamps refused), then the AES-256-GCM `resource` opened with the APIv3 key.
    public static func wechat(
        timestamp: String?, nonce: String?, signature: String?, serial: String?, body: [UInt8], keys: NotificationKeys, now: Date = Date()
    ) -> NotificationVerdict {
        guard let apiV3Key = keys.wechatAPIv3Key else { return .refused("wechat pay is not configured here") }
        if let refusal = WeChatProtocol.verify(
            timestamp: timestamp, nonce: nonce, signature: signature, serial: serial, body: body, platformKeys: keys.wechatPlatformKeys, now: now)
        {
            return .refused("wechat pay notification: \(refusal)")
        }
        guard let document = try? JSONParser.parse(body), case .string(let event)? = document["event_type"],
            let resource = document["resource"], case .string("AEAD_AES_256_GCM")? = resource["algorithm"],
            case .string(let ciphertext)? = resource["ciphertext"], case .string(let resourceNonce)? = resource["nonce"]
        else { return .refused("wechat pay notification is not a readable event") }
        let associatedData = if case .string(let text)? = resource["associated_data"] { text } else { "" }
        guard let plain = WeChatProtocol.decrypt(ciphertext: ciphertext, nonce: resourceNonce, associatedData: associatedData, apiV3Key: apiV3Key),
            let transaction = try? JSONParser.parse(plain)
        else { return .refused("wechat pay notification resource does not decrypt with our APIv3 key") }
        guard event == "TRANSACTION.SUCCESS", case .string("SUCCESS")? = transaction["trade_state"] else {
            return .ignored("wechat pay event \(event)")
        }
        guard case .string(let outTradeNo)? = transaction["out_trade_no"], case .string(let transactionID)? = transaction["transaction_id"] else {
            return .refused("wechat pay notification without out_trade_no/transaction_id")
        }
        if let ours = keys.wechatMchid, transaction.text("mchid") != ours {
            return .refused("wechat pay notification for merchant \(transaction.text("mchid") ?? "-"), not ours")
        }
        // The merchant is checked above; the amount is the store's to compare with the payment's.
        return .paid(channel: .wechat, outTradeNo: outTradeNo, reference: transactionID, terms: WeChatProtocol.amount(of: transaction))
    }
}
