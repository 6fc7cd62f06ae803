extension AlipayProtocol {
    /// The `biz_content` of `alipay.trade.pay` for a withholding charge.
    struct PayContent: Encodable {
        struct AgreementParams: Encodable {
            var agreementNo: String
            enum CodingKeys: String, CodingKey { case agreementNo = "agreement_no" }
        }

        var outTradeNo: String
        var totalAmount: String
        var subject: String
        var productCode: String
        var agreementParams: AgreementParams

        enum CodingKeys: String, CodingKey {
            case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, productCode = "product_code"
            case agreementParams = "agreement_params"
        }
    }
}
