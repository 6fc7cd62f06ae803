import ArgumentParser
import AsyncHTTPClient
import CashierChannels
import CashierWorker
import Logging

/// Channel endpoints and credentials. Secrets come from the environment only, never flags
/// (flags show up in process listings).
struct ChannelOptions: ParsableArguments {
    @Option(name: .customLong("channel-timeout-ms"), help: "Per-request channel timeout; a timeout is an unknown outcome (env CASHIER_CHANNEL_TIMEOUT_MS, default 10000).")
    var channelTimeoutMilliseconds: Int?

    struct Resolved {
        var cardURL: String?
        var cardAPIKey: String?
        var timeout: Duration
    }

    /// Validates everything up front. `sandboxURL` fills in the card settings in `cashier dev`.
    func resolve(sandboxURL: String? = nil) throws -> Resolved {
        let timeout = try Env.int(channelTimeoutMilliseconds, "CASHIER_CHANNEL_TIMEOUT_MS", default: 10_000, range: 1...600_000, flagName: "--channel-timeout-ms")
        var resolved = Resolved(cardURL: nil, cardAPIKey: nil, timeout: .milliseconds(timeout))
        if let url = Env.value("CASHIER_CARD_URL") ?? sandboxURL {
            resolved.cardURL = try Env.baseURL(url, setting: "CASHIER_CARD_URL")
            guard let key = Env.value("CASHIER_CARD_API_KEY") ?? (sandboxURL != nil ? "sk_test_sandbox" : nil) else {
                throw CLIError("CASHIER_CARD_API_KEY is not set; the card channel at CASHIER_CARD_URL needs its secret key")
            }
            resolved.cardAPIKey = key
        } else if Env.value("CASHIER_CARD_API_KEY") != nil {
            throw CLIError("CASHIER_CARD_API_KEY is set but CASHIER_CARD_URL is not; set the card API base URL too")
        }
        guard resolved.cardURL != nil else {
            throw CLIError("no payment channel configured: set CASHIER_CARD_URL and CASHIER_CARD_API_KEY (see README, Configuration)")
        }
        return resolved
    }
}

extension ChannelOptions.Resolved {
    func registry(client: HTTPClient, logger: Logger) -> ChannelRegistry {
        var adapters: [any ChannelAdapter] = []
        if let cardURL, let cardAPIKey {
            adapters.append(CardAdapter(baseURL: cardURL, apiKey: cardAPIKey, timeout: timeout, client: client, logger: logger))
        }
        return ChannelRegistry(adapters)
    }
}
