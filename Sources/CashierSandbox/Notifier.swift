import _CryptoExtras
import AsyncHTTPClient
import CashierChannels
import CashierCore
import Foundation
import Logging
import NIOCore

/// Sends the channels' asynchronous payment notifications, as Alipay and WeChat Pay do: signed
/// (and for WeChat Pay encrypted with the APIv3 key), retried a few times until answered.
final class Notifier: Sendable {
    private let client: HTTPClient
    private let logger: Logger

    init(client: HTTPClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    func alipay(_ trade: AlipayTrade, to url: String, key: _RSA.Signing.PrivateKey) {
        var parameters: [(String, String)] = [
            ("notify_time", AlipayProtocol.timestamp(Date())), ("notify_type", "trade_status_sync"), ("notify_id", UUID().uuidString),
            ("app_id", SandboxKeys.alipayAppID), ("charset", "utf-8"), ("version", "1.0"), ("sign_type", "RSA2"),
            ("trade_no", trade.tradeNo), ("out_trade_no", trade.outTradeNo), ("trade_status", trade.status),
            ("total_amount", trade.totalAmount), ("gmt_payment", AlipayProtocol.timestamp(Date())),
        ]
        let content = AlipayProtocol.signingContent(parameters, excluding: ["sign", "sign_type"])
        parameters.append(("sign", RSASignature.sign(Array(content.utf8), with: key)))
        let body = parameters.map { "\($0.0)=\(FormEncoding.escape($0.1))" }.joined(separator: "&")
        send(url, body: body, headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], expect: { status, text in
            status == 200 && text == "success"
        })
    }

    func wechat(_ trade: WeChatTrade, to url: String, keys: SandboxKeys) {
        let nonce = String(WeChatProtocol.nonce().prefix(12))
        guard let ciphertext = WeChatProtocol.encrypt(Array(trade.json(state: "SUCCESS").utf8), nonce: nonce, associatedData: "transaction", apiV3Key: keys.wechatAPIv3Key) else {
            logger.error("sandbox could not encrypt a wechat notification (APIv3 key must be 32 bytes)")
            return
        }
        let body = EventJSON.text(WeChatWire.Notification(
            id: UUID().uuidString, createTime: Timestamp.rfc3339(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)),
            resource: .init(ciphertext: ciphertext, nonce: nonce)))
        let headers = WeChatProtocol.signedHeaders(body: Array(body.utf8), serial: SandboxKeys.wechatPlatformSerial, key: keys.wechatPlatformPrivate)
        send(url, body: body, headers: [("Content-Type", "application/json")] + headers, expect: { status, _ in status == 200 || status == 204 })
    }

    private func send(_ url: String, body: String, headers: [(String, String)], expect: @escaping @Sendable (Int, String) -> Bool) {
        let client = self.client
        let logger = self.logger
        Task {
            for attempt in 1...5 {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                request.body = .bytes(ByteBuffer(string: body))
                if let response = try? await client.execute(request, timeout: .seconds(5)) {
                    let text = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
                    if expect(Int(response.status.code), text.trimmingCharacters(in: .whitespacesAndNewlines)) { return }
                }
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
            logger.notice("sandbox notification to \(url) was not acknowledged after 5 tries")
        }
    }
}
