import CashierCore

/// The WeChat Pay simulator's bodies, in API v3's shapes (CHANNELS.md).
enum WeChatWire {
    /// A contract-deduction transaction, as the query answers it and a notification carries it.
    struct Transaction: Encodable {
        struct Amount: Encodable {
            var total: Int64
            var currency: String
        }

        var appid: String
        var mchid: String
        var outTradeNo: String
        var transactionID: String
        var tradeState: String
        var contractID: String
        var amount: Amount

        enum CodingKeys: String, CodingKey {
            case appid, mchid, outTradeNo = "out_trade_no", transactionID = "transaction_id", tradeState = "trade_state"
            case contractID = "contract_id", amount
        }
    }

    /// `{"code":…,"message":…}`, API v3's error body.
    struct Failure: Encodable {
        var code: String
        var message: String
    }

    /// A payment notification: the transaction, AEAD-encrypted, in `resource`.
    struct Notification: Encodable {
        struct Resource: Encodable {
            var originalType = "transaction"
            var algorithm = "AEAD_AES_256_GCM"
            var ciphertext: String
            var associatedData = "transaction"
            var nonce: String

            enum CodingKeys: String, CodingKey {
                case originalType = "original_type", algorithm, ciphertext, associatedData = "associated_data", nonce
            }
        }

        var id: String
        var createTime: String
        var resourceType = "encrypt-resource"
        var eventType = "TRANSACTION.SUCCESS"
        var summary = "支付成功"
        var resource: Resource

        enum CodingKeys: String, CodingKey {
            case id, createTime = "create_time", resourceType = "resource_type", eventType = "event_type", summary, resource
        }
    }
}
