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
