import _CryptoExtras
import ArgumentParser
import AsyncHTTPClient
import CashierChannels
import CashierCore
import CashierSandbox
import CashierWorker
import Foundation
import Logging

/// Channel endpoints and credentials. Secrets come from the environment only, never flags
/// (flags show up in process listings). Key files are loaded once, here, at start-up.
struct ChannelOptions: ParsableArguments {
    @Option(name: .customLong(Settings.channelTimeout.flag!), help: Settings.channelTimeout.flagHelp)
    var channelTimeoutMilliseconds: Int?

    struct Resolved {
        var cardURL: String?
        var cardAPIKey: String?
        var alipay: AlipayConfiguration?
        var wechat: WeChatConfiguration?
        var timeout: Duration
        /// Per channel: calls at once, and the breaker's settings.
        var protection = ChannelProtection.Settings()
        /// How long an order waits for an open breaker before it goes on the retry schedule, uncalled.
        var breakerMaxWait: Duration = .seconds(60)

        /// Points the channels' notifications at `base` (`/notify/alipay`, `/notify/wechat`).
        mutating func setNotifyBaseURL(_ base: String) {
            alipay?.notifyURL = ChannelSettings.join(base, "/notify/alipay")
            wechat?.notifyURL = ChannelSettings.join(base, "/notify/wechat")
        }

        /// The WeChat Pay platform keys and APIv3 key (what the notification endpoint needs).
        var notificationKeys: NotificationKeys {
            NotificationKeys(
                alipayPublicKey: alipay?.alipayPublicKey, alipayAppID: alipay?.appID, wechatPlatformKeys: wechat?.platformKeys ?? [:],
                wechatAPIv3Key: wechat?.apiV3Key, wechatMchid: wechat?.mchid)
        }
    }

    /// Validates everything up front. In `cashier dev`, `sandbox` fills in every channel.
    /// `forNotifications`: only the keys that check notifications are needed (no notify URL).
    func resolve(
        _ settings: SettingsReader, sandbox: (url: String, keysDirectory: String, notifyBaseURL: String)? = nil, forNotifications: Bool = false
    ) throws -> Resolved {
        let timeout = try settings.value(Settings.channelTimeout, flag: channelTimeoutMilliseconds)
        var resolved = Resolved(timeout: .milliseconds(timeout))
        // Unset: as many as the worker's own concurrency, so a healthy channel never holds orders back.
        if let concurrency = try settings.optionalValue(Settings.channelConcurrency) { resolved.protection.concurrency = concurrency }
        resolved.breakerMaxWait = .milliseconds(try settings.value(Settings.breakerMaxWait))
        resolved.protection.minimumCalls = try settings.value(Settings.breakerMinCalls)
        for (channel, setting) in Settings.breakerMinCallsByChannel {
            if let calls = try settings.optionalValue(setting) { resolved.protection.minimumCallsByChannel[channel] = calls }
        }
        resolved.protection.openFor = .milliseconds(try settings.value(Settings.breakerOpen))
        var settings = settings
        if let sandbox {
            // Below everything an operator set: the development keys, then the sandbox's URLs.
            let urls = [
                Settings.cardURL.name: sandbox.url, Settings.cardAPIKey.name: "sk_test_sandbox", Settings.alipayURL.name: sandbox.url + "/gateway.do",
                Settings.wechatURL.name: sandbox.url, Settings.notifyBaseURL.name: sandbox.notifyBaseURL,
            ]
            settings = settings.addingEmbedded(try Self.sandboxSettings(sandbox.keysDirectory).merging(urls) { keys, _ in keys })
        }
        return try ChannelSettings(settings.texts(Settings.channels)).resolve(into: resolved, forNotifications: forNotifications)
    }

    /// The settings in a `cashier sandbox keys` directory's `cashier.env`.
    static func sandboxSettings(_ directory: String) throws -> [String: String] {
        try ConfigFile(path: (directory as NSString).appendingPathComponent(SandboxKeys.File.environment)).checkedValues()
    }
}

/// The CASHIER_* channel settings, read all-or-nothing per channel with one line per problem.
struct ChannelSettings {
    private let values: [String: String]
    init(_ values: [String: String]) { self.values = values }

    subscript(_ name: String) -> String? { values[name] }

    /// The channels these settings configure; at least one.
    func resolve(into resolved: ChannelOptions.Resolved, forNotifications: Bool = false) throws -> ChannelOptions.Resolved {
        var resolved = resolved
        let settings = self
        if let url = settings["CASHIER_CARD_URL"] {
            resolved.cardURL = try Settings.baseURL(url, setting: "CASHIER_CARD_URL")
            resolved.cardAPIKey = try settings.required("CASHIER_CARD_API_KEY", because: "the card channel at CASHIER_CARD_URL needs its secret key")
        } else if settings["CASHIER_CARD_API_KEY"] != nil {
            throw CLIError("CASHIER_CARD_API_KEY is set but CASHIER_CARD_URL is not; set the card API base URL too")
        }
        resolved.alipay = try settings.alipay()
        resolved.wechat = try settings.wechat(requireNotifyURL: !forNotifications)
        guard resolved.cardURL != nil || resolved.alipay != nil || resolved.wechat != nil else {
            throw CLIError("no payment channel configured: set CASHIER_CARD_URL and CASHIER_CARD_API_KEY, or the CASHIER_ALIPAY_* or CASHIER_WECHAT_* settings (see README, Configuration)")
        }
        return resolved
    }

    func required(_ name: String, because why: String) throws -> String {
        guard let value = values[name] else { throw CLIError("\(name) is not set; \(why)") }
        return value
    }

    private func anySet(_ prefix: String) -> Bool { values.keys.contains { $0.hasPrefix(prefix) } }

    func alipay() throws -> AlipayConfiguration? {
        guard anySet("CASHIER_ALIPAY_") else { return nil }
        let why = "the Alipay channel needs CASHIER_ALIPAY_URL, _APP_ID, _PRIVATE_KEY_FILE and _PUBLIC_KEY_FILE"
        let url = try Settings.baseURL(try required("CASHIER_ALIPAY_URL", because: why), setting: "CASHIER_ALIPAY_URL")
        let appID = try required("CASHIER_ALIPAY_APP_ID", because: why)
        do {
            let privateKey = try RSAKeys.loadPrivateKey(file: try required("CASHIER_ALIPAY_PRIVATE_KEY_FILE", because: why), setting: "CASHIER_ALIPAY_PRIVATE_KEY_FILE")
            let publicKey = try RSAKeys.loadPublicKey(file: try required("CASHIER_ALIPAY_PUBLIC_KEY_FILE", because: why), setting: "CASHIER_ALIPAY_PUBLIC_KEY_FILE")
            let notifyURL = values["CASHIER_NOTIFY_BASE_URL"].map { Self.join($0, "/notify/alipay") }
            return AlipayConfiguration(gatewayURL: url, appID: appID, appPrivateKey: privateKey, alipayPublicKey: publicKey, notifyURL: notifyURL)
        } catch let error as KeyError {
            throw CLIError(error.description)
        }
    }

    func wechat(requireNotifyURL: Bool) throws -> WeChatConfiguration? {
        guard anySet("CASHIER_WECHAT_") else { return nil }
        let why = "the WeChat Pay channel needs CASHIER_WECHAT_URL, _MCHID, _APPID, _SERIAL_NO, _PRIVATE_KEY_FILE, _PLATFORM_PUBLIC_KEY_FILE, _PLATFORM_SERIAL and _APIV3_KEY"
        let url = try Settings.baseURL(try required("CASHIER_WECHAT_URL", because: why), setting: "CASHIER_WECHAT_URL")
        let apiV3Key = try required("CASHIER_WECHAT_APIV3_KEY", because: why)
        guard apiV3Key.utf8.count == 32 else {
            throw CLIError("CASHIER_WECHAT_APIV3_KEY must be the 32-character APIv3 key from the merchant platform (it has \(apiV3Key.utf8.count))")
        }
        let notifyBase = requireNotifyURL
            ? try required("CASHIER_NOTIFY_BASE_URL", because: "WeChat Pay deductions need a transaction_notify_url: the public base URL of `cashier notify-server`")
            : values["CASHIER_NOTIFY_BASE_URL"] ?? "http://notify.invalid"
        do {
            let privateKey = try RSAKeys.loadPrivateKey(file: try required("CASHIER_WECHAT_PRIVATE_KEY_FILE", because: why), setting: "CASHIER_WECHAT_PRIVATE_KEY_FILE")
            let platformKey = try RSAKeys.loadPublicKey(
                file: try required("CASHIER_WECHAT_PLATFORM_PUBLIC_KEY_FILE", because: why), setting: "CASHIER_WECHAT_PLATFORM_PUBLIC_KEY_FILE")
            return WeChatConfiguration(
                baseURL: url, mchid: try required("CASHIER_WECHAT_MCHID", because: why), appid: try required("CASHIER_WECHAT_APPID", because: why),
                serialNo: try required("CASHIER_WECHAT_SERIAL_NO", because: why), merchantPrivateKey: privateKey,
                platformKeys: [try required("CASHIER_WECHAT_PLATFORM_SERIAL", because: why): platformKey], apiV3Key: apiV3Key,
                notifyURL: Self.join(try Settings.baseURL(notifyBase, setting: "CASHIER_NOTIFY_BASE_URL"), "/notify/wechat"))
        } catch let error as KeyError {
            throw CLIError(error.description)
        }
    }

    static func join(_ base: String, _ path: String) -> String { (base.hasSuffix("/") ? String(base.dropLast()) : base) + path }
}

extension ChannelOptions.Resolved {
    /// `breaker: false` for the retry worker (see `ChannelProtection.Settings.breakerEnabled`).
    /// `limit`: the calls in flight per channel when CASHIER_CHANNEL_CONCURRENCY is unset.
    func registry(client: HTTPClient, logger: Logger, breaker: Bool = true, limit: Int) -> ChannelRegistry {
        var adapters: [any ChannelAdapter] = []
        if let cardURL, let cardAPIKey {
            adapters.append(CardAdapter(baseURL: cardURL, apiKey: cardAPIKey, timeout: timeout, client: client, logger: logger))
        }
        if let alipay { adapters.append(AlipayAdapter(configuration: alipay, timeout: timeout, client: client, logger: logger)) }
        if let wechat { adapters.append(WeChatAdapter(configuration: wechat, timeout: timeout, client: client, logger: logger)) }
        var protection = self.protection
        protection.breakerEnabled = breaker
        return ChannelRegistry(adapters, protection: protection, defaultLimit: limit, logger: logger)
    }
}
