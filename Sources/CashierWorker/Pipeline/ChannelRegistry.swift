public import CashierChannels
public import CashierCore
public import Logging

/// The adapters this process can charge through, by channel. A channel without configured
/// credentials gets an adapter that answers every call as retryable, so its orders wait on
/// the retry path (and can be replayed) instead of failing for the buyer.
public struct ChannelRegistry: Sendable {
    private let adapters: [Channel: any ChannelAdapter]

    /// Each adapter is wrapped in its own `ChannelProtection` (concurrency limit and breaker).
    public init(_ adapters: [any ChannelAdapter], protection: ChannelProtection.Settings = .init(), logger: Logger = Logger(label: "cashier.channels")) {
        var byChannel: [Channel: any ChannelAdapter] = [:]
        for adapter in adapters { byChannel[adapter.channel] = ChannelProtection(adapter, settings: protection, logger: logger) }
        self.adapters = byChannel
    }

    public func adapter(for channel: Channel) -> any ChannelAdapter {
        adapters[channel] ?? UnconfiguredChannel(channel: channel)
    }
}

struct UnconfiguredChannel: ChannelAdapter {
    let channel: Channel

    func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        .retryable(Reason(code: "channel_not_configured", message: "channel \(channel.rawValue) has no credentials configured in this worker"))
    }

    func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        .unknown(Reason(code: "channel_not_configured", message: "channel \(channel.rawValue) has no credentials configured in this process"))
    }
}
