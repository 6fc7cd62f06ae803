import CashierCore
import CashierStore
import Foundation

/// How dead letters read on a terminal and in JSON.
enum DeadLetterFormat {
    static func json(_ letters: [DeadLetter]) -> String {
        var writer = JSONWriter()
        writer.beginArray()
        for letter in letters {
            writer.beginObject()
            writer.member("id", letter.id)
            writer.member("order_id", letter.orderID)
            writer.member("payment_id", letter.paymentID)
            writer.member("channel", letter.channel)
            writer.member("attempts", Int64(letter.attempts))
            writer.member("reason", letter.reason)
            writer.member("status", letter.status.rawValue)
            writer.member("created_at", TextFormat.timestamp(letter.createdAt))
            writer.member("updated_at", TextFormat.timestamp(letter.updatedAt))
            writer.member("source", letter.source)
            writer.endObject()
        }
        writer.endArray()
        return writer.text
    }

    static func table(_ letters: [DeadLetter]) -> String {
        guard !letters.isEmpty else { return "no dead letters match" }
        let header = ["ID", "ORDER", "CHANNEL", "ATTEMPTS", "STATUS", "CREATED", "REASON"]
        let rows = letters.map { letter in
            [String(letter.id), letter.orderID ?? "-", letter.channel ?? "-", String(letter.attempts), letter.status.rawValue,
             TextFormat.timestamp(letter.createdAt), "\(letter.reason.code): \(clip(letter.reason.message, 80))"]
        }
        return TextFormat.columns([header] + rows) + "\n\(letters.count) dead letter\(letters.count == 1 ? "" : "s")"
    }

    static func detail(_ letter: DeadLetter, payment: PaymentSummary?, attempts: [AttemptRecord], actions: [DeadLetterAction]) -> String {
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
