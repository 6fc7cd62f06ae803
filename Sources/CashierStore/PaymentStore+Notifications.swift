public import CashierCore
import Foundation
import PostgresNIO

/// What a channel's "payment succeeded" notification did.
public enum NotificationSettlement: Sendable, Equatable {
    /// The payment is now `succeeded` and its result is in the outbox.
    case settled(orderID: String)
    /// It had already succeeded (by query, or an earlier copy of the notification).
    case alreadySucceeded(orderID: String)
    /// It had been given up (`failed`, dead-lettered) but the money moved: now `succeeded`, and
    /// its dead letter closed.
    case revived(orderID: String)
    /// No payment has this idempotency key.
    case unknownPayment
}

extension PaymentStore {
    /// Settles the payment a notification names by its idempotency key, idempotently, to the
    /// same final state a query would give: `succeeded`, the channel's reference, the result
    /// event (the same event id the worker would have used).
    public func settleByNotification(idempotencyKey: String, channel: CashierCore.Channel, reference: String, occurredAt: String) async throws -> NotificationSettlement {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection -> NotificationSettlement in
            let rows = try await connection.query(
                """
                SELECT p.payment_id, p.state, p.attempts, o.order_id, p.amount, p.currency
                FROM payments p JOIN orders o USING (order_id)
                WHERE p.idempotency_key = \(idempotencyKey) AND p.channel = \(channel.rawValue)
                FOR UPDATE OF p
                """, logger: logger)
            var found: (String, String, Int, String, Int64, String)? = nil
            for try await row in rows.decode((String, String, Int, String, Int64, String).self) { found = row }
            guard let (paymentID, state, attempts, orderID, amount, currency) = found else { return .unknownPayment }
            if state == "succeeded" { return .alreadySucceeded(orderID: orderID) }
            let result = ResultEvent(
                eventID: PaymentIdentity.resultEventID(paymentID: paymentID, status: "succeeded"), orderID: orderID, paymentID: paymentID,
                status: .succeeded, amount: amount, currency: currency, channel: channel.rawValue, channelReference: reference,
                attempts: max(attempts, 1), reason: nil, occurredAt: occurredAt)
            try await connection.query(
                """
                WITH paid AS (
                    UPDATE payments
                    SET state = 'succeeded', channel_reference = \(reference), reason_code = NULL, reason_message = NULL,
                        settled_at = now(), updated_at = now(), retry_due_at = NULL, lease_until = NULL, leased_by = NULL
                    WHERE payment_id = \(paymentID)
                ), letters AS (
                    UPDATE dead_letters SET status = 'replayed', updated_at = now()
                    WHERE payment_id = \(paymentID) AND status = 'open'
                    RETURNING id
                ), audited AS (
                    INSERT INTO dead_letter_actions (dead_letter_id, order_id, action, actor, reason, outcome, detail, finished_at)
                    SELECT id, \(orderID), 'notification', \(channel.rawValue), 'payment notification', 'found_paid',
                           \("the channel notified that charge " + reference + " succeeded"), now()
                    FROM letters
                )
                INSERT INTO outbox (event_id, kind, message_key, payload)
                VALUES (\(result.eventID), 'result', \(orderID), \(result.json()))
                ON CONFLICT (event_id) DO NOTHING
                """, logger: logger)
            return state == "failed" ? .revived(orderID: orderID) : .settled(orderID: orderID)
        }
    }
}
