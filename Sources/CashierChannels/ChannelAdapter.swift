public import CashierCore

/// One charge to make: everything a channel needs, including the idempotency key that makes
/// repeating it safe.
public struct ChargeRequest: Sendable, Equatable {
    public var paymentID: String
    public var orderID: String
    public var itemID: String
    public var amount: Int64
    public var currency: Currency
    public var paymentMethod: String
    public var idempotencyKey: String
    /// The number of this call for the payment, from 1. A later call may have been preceded by
    /// one whose outcome is unknown, so adapters that can ask first (query by the idempotency
    /// reference) do so before calling again.
    public var attempt: Int

    public init(
        paymentID: String, orderID: String, itemID: String, amount: Int64, currency: Currency, paymentMethod: String, idempotencyKey: String,
        attempt: Int = 1
    ) {
        self.paymentID = paymentID
        self.orderID = orderID
        self.itemID = itemID
        self.amount = amount
        self.currency = currency
        self.paymentMethod = paymentMethod
        self.idempotencyKey = idempotencyKey
        self.attempt = attempt
    }
}

/// A payment channel. `charge` never throws: every failure, including our own timeout, is
/// classified into a `ChannelOutcome` so the caller decides on one closed set of cases.
public protocol ChannelAdapter: Sendable {
    var channel: Channel { get }
    func charge(_ request: ChargeRequest) async -> ChannelOutcome
    /// Asks whether the payment already happened, without charging. `reference` is the
    /// channel's id for the charge when an earlier answer gave one.
    func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup
}
