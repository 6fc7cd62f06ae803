import CashierCore

extension WeChatProtocol {
    /// The body of a contract deduction (`POST /v3/papay/pay/transactions/apply`).
    struct Deduction: Encodable {
        struct Amount: Encodable {
            var total: Int64
            var currency: String
        }

        var appid: String
        var outTradeNo: String
        var description: String
        var transactionNotifyURL: String
        var contractID: String
        var amount: Amount

        enum CodingKeys: String, CodingKey {
            case appid, outTradeNo = "out_trade_no", description, transactionNotifyURL = "transaction_notify_url"
            case contractID = "contract_id", amount
        }
    }
}

extension WeChatProtocol {
    /// The terms a transaction (a query's answer) states: `amount.total` in fen,
    /// `amount.currency`, and the `mchid` and `appid` it is for. A transaction without an
    /// `appid` is read as ours by its `mchid` alone.
    static func reportedTerms(_ transaction: JSONValue, mchid: String, appid: String) -> ReportedTerms {
        var terms = amount(of: transaction)
        terms.merchant = [ReportedTerms.MerchantField("mchid", reported: transaction.text("mchid"), ours: mchid)]
        if let reported = transaction.text("appid") { terms.merchant.append(.init("appid", reported: reported, ours: appid)) }
        return terms
    }

    /// A transaction's `amount.total` (fen) and `amount.currency` (CNY when it names none: the
    /// one currency of WeChat Pay's contract deduction).
    static func amount(of transaction: JSONValue) -> ReportedTerms {
        let total: Int64? = if case .number(let text)? = transaction["amount"]?["total"] { Int64(text) } else { nil }
        return ReportedTerms(amount: total, currency: transaction["amount"]?.text("currency") ?? Currency.cny.code)
    }
}
