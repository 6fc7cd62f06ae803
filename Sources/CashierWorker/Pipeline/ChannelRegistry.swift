public import CashierChannels
public import CashierCore
public import Logging

/// The channels this process can charge through, each behind its own `ChannelProtection`
/// (concurrency limit and breaker). A channel without configured credentials gets an adapter
/// that answers every call as retryable, so its orders wait on the retry path (and can be
/// replayed) instead of failing for the buyer.
public struct ChannelRegistry: Sendable {
    private let protections: [Channel: ChannelProtection]

    /// - Parameter defaultLimit: calls in flight per channel when `protection.concurrency` is
    ///   not set: the worker's own concurrency, so a healthy channel never makes orders wait.
    public init(
        _ adapters: [any ChannelAdapter], protection: ChannelProtection.Settings = .init(), defaultLimit: Int = 64,
        logger: Logger = Logger(label: "cashier.channels")
    ) {
        var byChannel: [Channel: ChannelProtection] = [:]
        for channel in Channel.allCases {
            let adapter = adapters.first { $0.channel == channel } ?? UnconfiguredChannel(channel: channel)
            byChannel[channel] = ChannelProtection(adapter, settings: protection, defaultLimit: defaultLimit, logger: logger)
        }
        self.protections = byChannel
    }

    public func protection(for channel: Channel) -> ChannelProtection { protections[channel]! }

    /// The calls in flight allowed per channel.
    public var limits: [Channel: Int] { protections.mapValues(\.limit) }
}

struct UnconfiguredChannel: ChannelAdapter {
    let channel: Channel

    func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        .notProcessed(Reason(code: "channel_not_configured", message: "channel \(channel.rawValue) has no credentials configured in this worker"))
    }

    func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup {
        .unknown(Reason(code: "channel_not_configured", message: "channel \(channel.rawValue) has no credentials configured in this process"))
    }
}
