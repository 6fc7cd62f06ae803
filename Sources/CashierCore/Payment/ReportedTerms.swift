/// What a channel says it charged when it reports a success: the amount and currency, and the
/// merchant identifiers it names.
///
/// A success is believed as this payment's charge only on the payment's own terms. Our
/// reference (`out_trade_no`, an intent found by order id) can carry a charge on other terms:
/// another system sharing the merchant account and the order ids, a trade created with other
/// fields before (Alipay `ACQ.CONTEXT_INCONSISTENT`), a channel's bug. Money moved under our
/// reference, so the payment may not fail (invariant 6); it is not what we asked for, so it may
/// not succeed either. Such a success is unknown with `ChannelOutcome.termsMismatchCode`, and the
/// resolver parks it for a person at once.
public struct ReportedTerms: Sendable, Equatable {
    /// In minor units; nil when the channel stated none, or none that reads exactly.
    public var amount: Int64?
    /// The upper-case ISO 4217 code; nil when the channel stated none (then only the channel's
    /// single currency can be meant, and the caller says which).
    public var currency: String?
    /// Each merchant identifier the answer names, with ours.
    public var merchant: [MerchantField]

    /// One merchant identifier of an answer (`mchid`, `appid`, `app_id`) and ours.
    public struct MerchantField: Sendable, Equatable {
        public var field: String
        public var reported: String?
        public var ours: String

        public init(_ field: String, reported: String?, ours: String) {
            self.field = field
            self.reported = reported
            self.ours = ours
        }
    }

    public init(amount: Int64?, currency: String?, merchant: [MerchantField] = []) {
        self.amount = amount
        self.currency = currency
        self.merchant = merchant
    }

    /// Nil when these are the terms of `amount` in `currency` for our merchant; otherwise the
    /// reason the success is not believed as this payment's charge.
    public func mismatch(amount expected: Int64, currency expectedCurrency: Currency, what: String) -> Reason? {
        var differences: [String] = []
        if amount != expected {
            differences.append("amount \(amount.map { expectedCurrency.majorUnitString($0) } ?? "missing or unreadable"), ours \(expectedCurrency.majorUnitString(expected))")
        }
        if let currency, currency.uppercased() != expectedCurrency.code {
            differences.append("currency \(currency), ours \(expectedCurrency.code)")
        }
        for field in merchant where field.reported != field.ours {
            differences.append("\(field.field) \(field.reported ?? "missing"), ours \(field.ours)")
        }
        guard !differences.isEmpty else { return nil }
        return Reason(
            code: ChannelOutcome.termsMismatchCode,
            message: "\(what) reports a success on other terms (\(differences.joined(separator: "; "))): not believed as this payment's charge, nor as no charge; a person must look at the channel")
    }
}
