public import CashierCore

/// What an Alipay answer means for the payment (CHANNELS.md, "Codes").
public enum AlipayAnswer: Sendable, Equatable {
    case paid(tradeNo: String)
    /// Terminal: the buyer's balance, agreement or the request itself.
    case declined(Reason)
    /// Ask `alipay.trade.query` before deciding (service unavailable, system error, a code the
    /// contract does not list): paid settles it; confirmed unpaid makes a retry with identical
    /// parameters safe.
    case queryFirst(Reason)
    /// The trade exists or is being paid (`10003`, `ACQ.TRADE_HAS_SUCCESS`,
    /// `ACQ.CONTEXT_INCONSISTENT`): only a query that finds it paid settles it now; anything
    /// else leaves the outcome unknown, never a decline and never a retry.
    case awaitQuery(Reason)
}

public enum AlipayClassifier {
    static let declines: Set<String> = [
        "ACQ.TRADE_HAS_CLOSE", "ACQ.BUYER_BALANCE_NOT_ENOUGH", "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH",
        "ACQ.AGREEMENT_NOT_EXIST", "ACQ.AGREEMENT_INVALID", "ACQ.AGREEMENT_STATUS_NOT_NORMAL", "ACQ.INVALID_PARAMETER",
        "ACQ.ACCESS_FORBIDDEN",
    ]

    /// Classifies a verified `alipay_trade_pay_response`.
    public static func pay(code: String, subCode: String?, message: String, tradeNo: String?) -> AlipayAnswer {
        let reason = Reason(code: subCode ?? "alipay_\(code)", message: "alipay \(code)\(subCode.map { " \($0)" } ?? ""): \(message)")
        switch code {
        case "10000":
            guard let tradeNo, !tradeNo.isEmpty else { return .queryFirst(Reason(code: "alipay_no_trade_no", message: "alipay answered 10000 without trade_no")) }
            return .paid(tradeNo: tradeNo)
        case "10003":
            return .awaitQuery(reason)
        case "20000":
            return .queryFirst(reason)
        case "20001", "40001", "40002":
            // Configuration or signature problems: the contract calls them not retryable.
            return .declined(reason)
        case "40004":
            guard let subCode else { return .queryFirst(reason) }
            // Both say a trade with this out_trade_no exists (CONTEXT_INCONSISTENT: with other
            // fields). The contract calls the second terminal, but it may have been paid: only
            // the query may say what became of it, never a decline (invariant 6; WeChat Pay's
            // OUT_TRADE_NO_USED is read the same way).
            if subCode == "ACQ.TRADE_HAS_SUCCESS" || subCode == "ACQ.CONTEXT_INCONSISTENT" { return .awaitQuery(reason) }
            if subCode == "ACQ.SYSTEM_ERROR" { return .queryFirst(reason) }
            if declines.contains(subCode) { return .declined(reason) }
            // A business failure the contract does not list: ask before calling it a decline.
            return .queryFirst(reason)
        default:
            return .queryFirst(reason)
        }
    }

    /// What a verified `alipay_trade_query_response` says about the payment.
    public static func query(code: String, subCode: String?, tradeStatus: String?, tradeNo: String?) -> PaymentLookup {
        if code == "10000" {
            switch tradeStatus {
            case "TRADE_SUCCESS", "TRADE_FINISHED":
                return .paid(reference: tradeNo ?? "")
            case "TRADE_CLOSED":
                return .notPaid
            default:
                // WAIT_BUYER_PAY (and anything new): the buyer may still pay.
                return .unknown(Reason(code: "alipay_\(tradeStatus ?? "no_status")", message: "alipay trade is \(tradeStatus ?? "without a status")"))
            }
        }
        if code == "40004" && subCode == "ACQ.TRADE_NOT_EXIST" { return .notPaid }
        return .unknown(Reason(code: subCode ?? "alipay_\(code)", message: "alipay query answered \(code) \(subCode ?? "")"))
    }
}
