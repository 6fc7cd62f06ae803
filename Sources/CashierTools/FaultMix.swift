/// Which shares of the valid card orders meet which channel behaviour (the sandbox's magic
/// payment methods); the rest are charged normally.
public struct FaultMix: Sendable {
    /// The card declines (terminal).
    public var decline = 0.05
    /// The channel answers 503 to the first two calls (retried into one charge).
    public var transient = 0.0
    /// The channel answers 503 to every call (retries exhausted, dead-lettered).
    public var unavailable = 0.0

    public var total: Double { decline + transient + unavailable }

    public init(decline: Double = 0.05, transient: Double = 0, unavailable: Double = 0) {
        self.decline = decline
        self.transient = transient
        self.unavailable = unavailable
    }
}
