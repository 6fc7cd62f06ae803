import CashierCore
public import CashierStore
import Foundation

/// How dead letters read on a terminal and in JSON.
public enum DeadLetterFormat {
    /// `cashier dlq list --json`.
    public static func json(_ letters: [DeadLetter]) -> String {
        EventJSON.text(letters.map(Listed.init))
    }

    /// One dead letter in `cashier dlq list --json`.
    struct Listed: Encodable {
        var id: Int64
        var orderID: String?
        var paymentID: String?
        var channel: String?
        var attempts: Int
        var reason: Reason
        var status: String
        var createdAt: String
        var updatedAt: String
        var source: ResultEvent.Source

        init(_ letter: DeadLetter) {
            id = letter.id
            orderID = letter.orderID
            paymentID = letter.paymentID
            channel = letter.channel
            attempts = letter.attempts
            reason = letter.reason
            status = letter.status.rawValue
            createdAt = TextFormat.timestamp(letter.createdAt)
            updatedAt = TextFormat.timestamp(letter.updatedAt)
            source = letter.source
        }

        enum CodingKeys: String, CodingKey {
            case id, orderID = "order_id", paymentID = "payment_id", channel, attempts, reason, status, createdAt = "created_at"
            case updatedAt = "updated_at", source
        }

        /// Unknown order, payment or channel are written as null, as they always were.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(orderID, forKey: .orderID)
            try container.encode(paymentID, forKey: .paymentID)
            try container.encode(channel, forKey: .channel)
            try container.encode(attempts, forKey: .attempts)
            try container.encode(reason, forKey: .reason)
            try container.encode(status, forKey: .status)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(updatedAt, forKey: .updatedAt)
            try container.encode(source, forKey: .source)
        }
    }

    /// `cashier dlq list`.
    public static func table(_ letters: [DeadLetter]) -> String {
        guard !letters.isEmpty else { return "no dead letters match" }
        let header = ["ID", "ORDER", "CHANNEL", "ATTEMPTS", "STATUS", "CREATED", "REASON"]
        let rows = letters.map { letter in
            [String(letter.id), letter.orderID ?? "-", letter.channel ?? "-", String(letter.attempts), letter.status.rawValue,
             TextFormat.timestamp(letter.createdAt), "\(letter.reason.code): \(clip(letter.reason.message, 80))"]
        }
        return TextFormat.columns([header] + rows) + "\n\(letters.count) dead letter\(letters.count == 1 ? "" : "s")"
    }

    /// `cashier dlq show`.
    public static func detail(_ letter: DeadLetter, payment: PaymentSummary?, attempts: [AttemptRecord], actions: [DeadLetterAction]) -> String {
        var lines = [
            "dead letter \(letter.id)  [\(letter.status.rawValue)]",
            "  order:     \(letter.orderID ?? "-")   channel: \(letter.channel ?? "-")",
            "  reason:    \(letter.reason.code): \(letter.reason.message)",
            "  source:    \(letter.source.topic) partition \(letter.source.partition) offset \(letter.source.offset)",
            "  created:   \(TextFormat.timestamp(letter.createdAt))   updated: \(TextFormat.timestamp(letter.updatedAt))",
            "  event:     \(clip(letter.payload, 400))",
        ]
        if let payment {
            lines.append("payment \(payment.paymentID)  [\(payment.state)]")
            lines.append("  amount:    \(payment.amount) \(payment.currency) (minor units)   attempts: \(payment.attempts)")
            lines.append("  key:       \(payment.idempotencyKey)   reference: \(payment.channelReference ?? "-")")
            if let reason = payment.reason { lines.append("  reason:    \(reason.code): \(reason.message)") }
        }
        if !attempts.isEmpty {
            lines.append("attempts")
            let rows = attempts.map { attempt in
                ["#\(attempt.number)", TextFormat.timestamp(attempt.startedAt), duration(attempt), attempt.outcome ?? "(open)", attempt.worker,
                 attempt.error.map { "\($0.code): \(clip($0.message, 80))" } ?? attempt.channelReference ?? ""]
            }
            lines.append(TextFormat.columns([["", "STARTED", "TOOK", "OUTCOME", "BY", "ANSWER"]] + rows, indent: "  "))
        }
        if !actions.isEmpty {
            lines.append("actions")
            for action in actions {
                lines.append("  \(TextFormat.timestamp(action.startedAt))  \(action.action) by \(action.actor): \(action.outcome) — \(action.detail) (why: \(action.reason))")
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func duration(_ attempt: AttemptRecord) -> String {
        guard let finished = attempt.finishedAt else { return "-" }
        return "\(Int((finished.timeIntervalSince(attempt.startedAt) * 1000).rounded())) ms"
    }

    static func clip(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}
