import CashierCore

/// The card simulator's response bodies, in the Stripe-compatible shapes CHANNELS.md lists.
enum CardWire {
    /// A payment intent (`object: payment_intent`).
    struct Intent: Encodable {
        struct Metadata: Encodable {
            var orderID: String
            enum CodingKeys: String, CodingKey { case orderID = "order_id" }
        }

        var id: String
        var object = "payment_intent"
        var amount: Int64
        var currency: String
        var status: String
        var paymentMethod: String
        var metadata: Metadata
        var lastPaymentError: String? = nil

        init(_ intent: CardIntent) {
            id = intent.id
            amount = intent.amount
            currency = intent.currency
            status = intent.status
            paymentMethod = intent.paymentMethod
            metadata = Metadata(orderID: intent.orderID)
        }

        enum CodingKeys: String, CodingKey {
            case id, object, amount, currency, status, paymentMethod = "payment_method", metadata, lastPaymentError = "last_payment_error"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(object, forKey: .object)
            try container.encode(amount, forKey: .amount)
            try container.encode(currency, forKey: .currency)
            try container.encode(status, forKey: .status)
            try container.encode(paymentMethod, forKey: .paymentMethod)
            try container.encode(metadata, forKey: .metadata)
            try container.encode(lastPaymentError, forKey: .lastPaymentError)
        }
    }

    /// `{"object":"search_result","has_more":false,"data":[…]}`.
    struct SearchResult: Encodable {
        var object = "search_result"
        var hasMore = false
        var data: [Intent]
        enum CodingKeys: String, CodingKey { case object, hasMore = "has_more", data }
    }

    /// `{"error":{"type","code","decline_code","message","payment_intent"}}`, absent members null.
    struct Failure: Encodable {
        struct Body: Encodable {
            var type: String
            var code: String
            var declineCode: String?
            var message: String
            var paymentIntent: String?

            enum CodingKeys: String, CodingKey {
                case type, code, declineCode = "decline_code", message, paymentIntent = "payment_intent"
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(type, forKey: .type)
                try container.encode(code, forKey: .code)
                try container.encode(declineCode, forKey: .declineCode)
                try container.encode(message, forKey: .message)
                try container.encode(paymentIntent, forKey: .paymentIntent)
            }
        }

        var error: Body

        static func text(type: String, code: String, declineCode: String? = nil, message: String, intent: String? = nil) -> String {
            EventJSON.text(Failure(error: Body(type: type, code: code, declineCode: declineCode, message: message, paymentIntent: intent)))
        }
    }
}
