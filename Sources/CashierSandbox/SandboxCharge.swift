import CashierCore
import Foundation

/// One executed charge on any channel, as `GET /_sandbox/charges` lists it.
struct SandboxCharge: Encodable {
    let id: String
    let channel: String
    let idempotencyKey: String
    let orderID: String
    let amount: Int64
    let currency: String
    let paymentMethod: String
    /// `succeeded`, `requires_payment_method` (a card decline), `processing` (a card intent not
    /// completed yet) or `pending` (WeChat Pay).
    let status: String
    let createdAtMilliseconds: Int64

    enum CodingKeys: String, CodingKey {
        case id, channel, idempotencyKey = "idempotency_key", orderID = "order_id", amount, currency, paymentMethod = "payment_method"
        case status, createdAtMilliseconds = "created_ms"
    }

    static func all(card: CardSimulator, alipay: AlipaySimulator?, wechat: WeChatSimulator?) -> [SandboxCharge] {
        var charges = card.intents.map { intent in
            SandboxCharge(
                id: intent.id, channel: "card", idempotencyKey: intent.idempotencyKey, orderID: intent.orderID, amount: intent.amount,
                currency: intent.currency, paymentMethod: intent.paymentMethod, status: intent.status,
                createdAtMilliseconds: intent.createdAtMilliseconds)
        }
        for trade in alipay?.trades ?? [] {
            let amount = NSDecimalNumber(decimal: (Decimal(string: trade.totalAmount) ?? 0) * 100).int64Value
            charges.append(SandboxCharge(
                id: trade.tradeNo, channel: "alipay", idempotencyKey: trade.outTradeNo, orderID: trade.orderID, amount: amount,
                currency: "cny", paymentMethod: trade.agreementNo, status: trade.status == "TRADE_SUCCESS" ? "succeeded" : trade.status.lowercased(),
                createdAtMilliseconds: trade.createdAtMilliseconds))
        }
        let now = WeChatSimulator.nowMilliseconds()
        for trade in wechat?.trades ?? [] {
            charges.append(SandboxCharge(
                id: trade.transactionID, channel: "wechat", idempotencyKey: trade.outTradeNo, orderID: trade.orderID, amount: trade.total,
                currency: trade.currency.lowercased(), paymentMethod: trade.contractID,
                status: trade.state(at: now) == "SUCCESS" ? "succeeded" : "pending", createdAtMilliseconds: trade.createdAtMilliseconds))
        }
        return charges
    }

    static func json(_ charges: [SandboxCharge]) -> String {
        EventJSON.text(Listing(count: charges.count, succeeded: charges.filter { $0.status == "succeeded" }.count, charges: charges))
    }

    /// `GET /_sandbox/charges`: how many, how many succeeded, and each charge.
    struct Listing: Encodable {
        var count: Int
        var succeeded: Int
        var charges: [SandboxCharge]
    }
}
