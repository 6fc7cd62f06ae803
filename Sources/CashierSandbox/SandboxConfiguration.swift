/// Fault injection for the channel simulator (`cashier sandbox` flags).
public struct SandboxConfiguration: Sendable {
    /// Added to every answer.
    public var latency: Duration = .zero
    /// Share of charges declined (402 `card_declined`), saved like real declines.
    public var declineRate: Double = 0
    /// Share of calls answered 500/503/429 without executing (not saved: a retry executes).
    public var errorRate: Double = 0
    /// Share of charges executed and saved but answered only after `slowAnswer`: the caller
    /// times out and must find the outcome by repeating the call with the same key.
    public var timeoutRate: Double = 0
    /// How long a slow answer is held.
    public var slowAnswer: Duration = .seconds(15)
    /// How long a stalled answer (`pm_sandbox_stall`) stays silent after half its body, unless
    /// the client goes away first; the connection is then closed with the body unfinished.
    public var stallHold: Duration = .seconds(120)
    /// The card API's secret key; nil accepts any non-empty bearer token.
    public var cardAPIKey: String? = nil
    /// The channels' keys (Alipay and WeChat Pay); without them those protocols answer 503.
    public var keys: SandboxKeys? = nil
    /// How long an accepted WeChat Pay deduction stays pending before it succeeds.
    public var wechatSettle: Duration = .milliseconds(300)

    public init() {}
}
