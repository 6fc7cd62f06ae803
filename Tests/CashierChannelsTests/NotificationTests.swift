import _CryptoExtras
import CashierChannels
import CashierCore
import CashierSandbox
import Foundation
import Testing

/// The channels' payment notifications: genuine ones are believed, forged or stale ones refused.
@Suite struct NotificationTests {
    static let keys = NotificationKeys(
        alipayPublicKey: try! RSAKeys.loadPublicKey(file: TestKeys.file(SandboxKeys.File.alipayPlatformPublic), setting: "test"),
        alipayAppID: SandboxKeys.alipayAppID,
        wechatPlatformKeys: [SandboxKeys.wechatPlatformSerial: try! RSAKeys.loadPublicKey(file: TestKeys.file(SandboxKeys.File.wechatPlatformPublic), setting: "test")],
        wechatAPIv3Key: TestKeys.apiV3Key, wechatMchid: SandboxKeys.wechatMchid)
    static let alipayPlatform = try! RSAKeys.loadPrivateKey(file: TestKeys.file(SandboxKeys.File.alipayPlatformPrivate), setting: "test")
    static let wechatPlatform = try! RSAKeys.loadPrivateKey(file: TestKeys.file(SandboxKeys.File.wechatPlatformPrivate), setting: "test")

    func alipayForm(status: String = "TRADE_SUCCESS", appID: String = SandboxKeys.alipayAppID, signer: _RSA.Signing.PrivateKey = alipayPlatform) -> [(String, String)] {
        var form = [("app_id", appID), ("out_trade_no", "ck1"), ("trade_no", "2026T1"), ("trade_status", status), ("total_amount", "90.00"),
                    ("notify_time", "2026-11-26 10:00:00"), ("sign_type", "RSA2")]
        form.append(("sign", RSASignature.sign(Array(AlipayProtocol.signingContent(form, excluding: ["sign", "sign_type"]).utf8), with: signer)))
        return form
    }

    @Test func alipayNotificationsAreBelievedOnlyWhenSignedByAlipayForOurApp() async {
        await TestKeys.prepare()
        #expect(ChannelNotifications.alipay(alipayForm(), keys: Self.keys) == .paid(
            channel: .alipay, outTradeNo: "ck1", reference: "2026T1", terms: ReportedTerms(amount: 9000, currency: "CNY")))
        // The amount is read exactly, or not at all (the store then refuses to settle on it).
        for (text, amount) in [("90", Int64(9000)), ("90.5", 9050), ("0.01", 1)] as [(String, Int64?)] + [("90.001", nil), ("-1.00", nil), ("9e3", nil), ("", nil)] {
            var form = alipayForm().filter { $0.0 != "sign" }
            form[4] = ("total_amount", text)
            form.append(("sign", RSASignature.sign(Array(AlipayProtocol.signingContent(form, excluding: ["sign", "sign_type"]).utf8), with: Self.alipayPlatform)))
            guard case .paid(_, _, _, let terms) = ChannelNotifications.alipay(form, keys: Self.keys) else { Issue.record("\(text) refused"); continue }
            #expect(terms.amount == amount, "total_amount \(text)")
        }
        guard case .refused = ChannelNotifications.alipay(alipayForm(signer: Self.wechatPlatform), keys: Self.keys) else { Issue.record("forged accepted"); return }
        guard case .refused = ChannelNotifications.alipay(alipayForm(appID: "2021999"), keys: Self.keys) else { Issue.record("other app accepted"); return }
        var tampered = alipayForm()
        tampered[4] = ("total_amount", "0.01")
        guard case .refused = ChannelNotifications.alipay(tampered, keys: Self.keys) else { Issue.record("tampered accepted"); return }
        guard case .ignored = ChannelNotifications.alipay(alipayForm(status: "TRADE_CLOSED"), keys: Self.keys) else { Issue.record("closed settled"); return }
    }

    func wechatNotification(
        apiV3Key: String = TestKeys.apiV3Key, signer: _RSA.Signing.PrivateKey = wechatPlatform, at timestamp: Int64 = Int64(Date().timeIntervalSince1970),
        mchid: String = SandboxKeys.wechatMchid
    ) -> (body: [UInt8], timestamp: String, nonce: String, signature: String) {
        let resource = #"{"mchid":"\#(mchid)","out_trade_no":"ck2","transaction_id":"4200T2","trade_state":"SUCCESS","amount":{"total":9000,"currency":"CNY"}}"#
        let ciphertext = WeChatProtocol.encrypt(Array(resource.utf8), nonce: "abcdefghijkl", associatedData: "transaction", apiV3Key: apiV3Key)!
        let body = Array(#"{"id":"n1","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"\#(ciphertext)","associated_data":"transaction","nonce":"abcdefghijkl"}}"#.utf8)
        let signature = WeChatProtocol.signAnswer(body: body, timestamp: timestamp, nonce: "N1", key: signer)
        return (body, String(timestamp), "N1", signature)
    }

    @Test func wechatNotificationsAreVerifiedDecryptedAndRefusedWhenForgedOrStale() async {
        await TestKeys.prepare()
        func verdict(_ n: (body: [UInt8], timestamp: String, nonce: String, signature: String), serial: String = SandboxKeys.wechatPlatformSerial) -> NotificationVerdict {
            ChannelNotifications.wechat(timestamp: n.timestamp, nonce: n.nonce, signature: n.signature, serial: serial, body: n.body, keys: Self.keys)
        }
        #expect(verdict(wechatNotification()) == .paid(
            channel: .wechat, outTradeNo: "ck2", reference: "4200T2", terms: ReportedTerms(amount: 9000, currency: "CNY")))
        guard case .refused(let why) = verdict(wechatNotification(mchid: "1900000999")) else { Issue.record("another merchant's transaction was believed"); return }
        #expect(why.contains("1900000999"))
        for (name, forged) in [
            ("signed by another key", verdict(wechatNotification(signer: Self.alipayPlatform))),
            ("stale", verdict(wechatNotification(at: Int64(Date().timeIntervalSince1970) - 600))),
            ("encrypted with another APIv3 key", verdict(wechatNotification(apiV3Key: "Z123456789abcdef0123456789abcdef"))),
            ("unknown serial", verdict(wechatNotification(), serial: "PUB_KEY_ID_OTHER")),
        ] {
            guard case .refused = forged else { Issue.record("\(name) was accepted: \(forged)"); continue }
        }
    }
}
