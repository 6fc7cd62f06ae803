import CashierCore
import Foundation

/// One executed charge on any channel, as `GET /_sandbox/charges` lists it.
struct SandboxCharge {
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
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("count", Int64(charges.count))
        writer.member("succeeded", Int64(charges.filter { $0.status == "succeeded" }.count))
        writer.key("charges")
        writer.beginArray()
        for charge in charges {
            writer.beginObject()
            writer.member("id", charge.id)
            writer.member("channel", charge.channel)
            writer.member("idempotency_key", charge.idempotencyKey)
            writer.member("order_id", charge.orderID)
            writer.member("amount", charge.amount)
            writer.member("currency", charge.currency)
            writer.member("payment_method", charge.paymentMethod)
            writer.member("status", charge.status)
            writer.member("created_ms", charge.createdAtMilliseconds)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.text
    }
}
