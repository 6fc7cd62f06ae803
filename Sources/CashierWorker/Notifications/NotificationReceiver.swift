public import CashierChannels
import CashierCore
public import CashierStore
import Foundation
public import Logging

/// Handles the channels' payment notifications: checks each (signature, freshness, our
/// merchant), settles the payment it names idempotently, and answers the way each channel
/// expects — Alipay the text `success`, WeChat Pay 204 — so it stops resending.
public struct NotificationReceiver: Sendable {
    /// An HTTP answer.
    public struct Reply: Sendable, Equatable {
        public let status: Int
        public let body: String
        public let contentType: String
    }

    private let store: PaymentStore
    private let keys: NotificationKeys
    private let logger: Logger

    public init(store: PaymentStore, keys: NotificationKeys, logger: Logger) {
        self.store = store
        self.keys = keys
        self.logger = logger
    }

    /// `POST /notify/alipay` with the form body.
    public func alipay(formBody: String) async -> Reply {
        let verdict = ChannelNotifications.alipay(FormEncoding.decode(formBody), keys: keys)
        return await settle(verdict,
            accepted: Reply(status: 200, body: "success", contentType: "text/plain"),
            refused: { Reply(status: 400, body: "fail", contentType: "text/plain") },
            failed: Reply(status: 500, body: "fail", contentType: "text/plain"))
    }

    /// `POST /notify/wechat` with the signature headers and the raw body.
    public func wechat(timestamp: String?, nonce: String?, signature: String?, serial: String?, body: [UInt8]) async -> Reply {
        let verdict = ChannelNotifications.wechat(timestamp: timestamp, nonce: nonce, signature: signature, serial: serial, body: body, keys: keys)
        return await settle(verdict,
            accepted: Reply(status: 204, body: "", contentType: "application/json"),
            refused: { Reply(status: 401, body: EventJSON.text(["code": "FAIL", "message": "notification refused"]), contentType: "application/json") },
            failed: Reply(status: 500, body: EventJSON.text(["code": "FAIL", "message": "try again"]), contentType: "application/json"))
    }

    private func settle(_ verdict: NotificationVerdict, accepted: Reply, refused: () -> Reply, failed: Reply) async -> Reply {
        switch verdict {
        case .refused(let why):
            logger.warning("payment notification refused: \(why)")
            return refused()
        case .ignored(let why):
            logger.debug("payment notification acknowledged, nothing to settle: \(why)")
            return accepted
        case .paid(let channel, let outTradeNo, let reference, let terms):
            do {
                let now = Timestamp.rfc3339(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
                let outcome = try await store.learnSuccess(
                    idempotencyKey: outTradeNo, channel: channel, reference: reference, occurredAt: now, terms: terms,
                    learnedBy: "\(channel.rawValue) payment notification")
                switch outcome {
                case .settled(let orderID): logger.debug("payment settled by notification", metadata: ["order_id": "\(orderID)", "channel": "\(channel.rawValue)"])
                case .alreadySucceeded: break
                case .contradiction(let orderID):
                    // The channel said "not charged" before and now says "paid": a person must
                    // look (and likely refund); the buyer's failed result stands meanwhile.
                    Telemetry.deadLetters(reason: "channel_contradiction").increment()
                    logger.critical(
                        "channel contradiction: a notification reports a charge for a payment failed as not charged; dead-lettered",
                        metadata: ["order_id": "\(orderID)", "channel": "\(channel.rawValue)", "reference": "\(reference)"])
                case .termsMismatch(let orderID, let reason):
                    // Genuine, under our reference, on other terms: neither this payment's
                    // charge nor proof of none. Acknowledged (resending changes nothing); an
                    // open payment's own lookup finds the same trade and parks it for a person
                    // (a `failed` one was dead-lettered as a contradiction instead).
                    logger.critical(
                        "payment notification on other terms than the payment's; not settled",
                        metadata: ["order_id": "\(orderID)", "channel": "\(channel.rawValue)", "reference": "\(reference)", "reason": "\(reason.message)"])
                case .unknownPayment:
                    // Not ours (another system sharing the merchant account?): acknowledge so the
                    // channel stops resending, and say so loudly.
                    logger.error("payment notification names no known payment", metadata: ["out_trade_no": "\(outTradeNo)", "channel": "\(channel.rawValue)"])
                }
                return accepted
            } catch {
                logger.error("payment notification could not be recorded; the channel will resend: \(StoreError.describe(error))")
                return failed
            }
        }
    }
}
