public import CashierCore
import Foundation
public import Logging
public import PostgresNIO

/// The dead letters and what operators do with them (`cashier dlq`). Every action is written
/// to `dead_letter_actions` in the same transaction as its effect.
public struct DeadLetterStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    private static let columns = """
        id, order_id, payment_id, channel, reason_code, reason_message, attempts, status, created_at, updated_at,
        source_topic, source_partition, source_offset, payload
        """

    private typealias Row = (Int64, String?, String?, String?, String, String, Int, String, Date, Date, String, Int32, Int64, String)

    private static func letter(_ row: Row) -> DeadLetter {
        DeadLetter(
            id: row.0, orderID: row.1, paymentID: row.2, channel: row.3, reason: Reason(code: row.4, message: row.5),
            attempts: row.6, status: DeadLetter.Status(rawValue: row.7) ?? .open, createdAt: row.8, updatedAt: row.9,
            source: ResultEvent.Source(topic: row.10, partition: row.11, offset: row.12), payload: row.13)
    }

    public func list(_ filter: DeadLetterFilter, limit: Int = 100_000) async throws -> [DeadLetter] {
        let statuses = filter.statuses.map(\.rawValue)
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns) FROM dead_letters
            WHERE status = ANY(\(statuses))
              AND (\(filter.channel)::text IS NULL OR channel = \(filter.channel))
              AND (\(filter.reasonCode)::text IS NULL OR reason_code = \(filter.reasonCode))
              AND (\(filter.since)::timestamptz IS NULL OR created_at >= \(filter.since))
              AND (\(filter.ids == nil) OR id = ANY(\(filter.ids ?? [])))
              AND (\(filter.orderIDs == nil) OR order_id = ANY(\(filter.orderIDs ?? [])))
            ORDER BY id
            LIMIT \(limit)
            """, logger: logger)
        var letters: [DeadLetter] = []
        for try await row in rows.decode(Row.self) { letters.append(Self.letter(row)) }
        return letters
    }

    public func letter(id: Int64) async throws -> DeadLetter? {
        var filter = DeadLetterFilter()
        filter.statuses = DeadLetter.Status.allCases
        filter.ids = [id]
        return try await list(filter).first
    }

    public func payment(_ paymentID: String) async throws -> PaymentSummary? {
        let rows = try await client.query(
            """
            SELECT payment_id, state, amount, currency, attempts, idempotency_key, channel_reference, reason_code, reason_message
            FROM payments WHERE payment_id = \(paymentID)
            """, logger: logger)
        for try await row in rows.decode((String, String, Int64, String, Int, String, String?, String?, String?).self) {
            let reason = row.7.map { Reason(code: $0, message: row.8 ?? "") }
            return PaymentSummary(
                paymentID: row.0, state: row.1, amount: row.2, currency: row.3, attempts: row.4, idempotencyKey: row.5,
                channelReference: row.6, reason: reason)
        }
        return nil
    }

    public func attempts(_ paymentID: String) async throws -> [AttemptRecord] {
        let rows = try await client.query(
            """
            SELECT attempt_no, worker, started_at, finished_at, outcome, channel_reference, error_code, error_message
            FROM payment_attempts WHERE payment_id = \(paymentID) ORDER BY attempt_no
            """, logger: logger)
        var records: [AttemptRecord] = []
        for try await row in rows.decode((Int, String, Date, Date?, String?, String?, String?, String?).self) {
            records.append(AttemptRecord(
                number: row.0, worker: row.1, startedAt: row.2, finishedAt: row.3, outcome: row.4, channelReference: row.5,
                error: row.6.map { Reason(code: $0, message: row.7 ?? "") }))
        }
        return records
    }

    public func actions(_ letterID: Int64) async throws -> [DeadLetterAction] {
        let rows = try await client.query(
            """
            SELECT id, action, actor, reason, outcome, detail, started_at, finished_at
            FROM dead_letter_actions WHERE dead_letter_id = \(letterID) ORDER BY id
            """, logger: logger)
        var actions: [DeadLetterAction] = []
        for try await row in rows.decode((Int64, String, String, String, String, String, Date, Date?).self) {
            actions.append(DeadLetterAction(
                id: row.0, action: row.1, actor: row.2, reason: row.3, outcome: row.4, detail: row.5, startedAt: row.6, finishedAt: row.7))
        }
        return actions
    }

    /// Closes an open dead letter without acting on it. Returns the status it had.
    ///
    /// Refused (`DiscardRefused`) for the letter of a payment whose outcome is still open (an
    /// `outcome_unknown` letter: parked, no lookup due): closing it would leave the payment with
    /// neither a result nor anyone to look at it. `dlq replay` resolves it.
    public func discard(_ id: Int64, actor: String, reason: String) async throws -> DeadLetter.Status? {
        let logger = self.logger
        // A refusal is returned out of the transaction (which wraps what its body throws).
        let (status, refusal) = try await client.withTransaction(logger: logger) { connection -> (DeadLetter.Status?, DiscardRefused?) in
            // The payment's row first, then the letter's: the order replays and lookups take.
            var paymentState: String? = nil
            let payments = try await connection.query(
                """
                SELECT p.state FROM payments p
                WHERE p.payment_id = (SELECT payment_id FROM dead_letters WHERE id = \(id))
                FOR UPDATE
                """, logger: logger)
            for try await state in payments.decode(String.self) { paymentState = state }
            let rows = try await connection.query(
                "SELECT status, order_id, payment_id FROM dead_letters WHERE id = \(id) FOR UPDATE", logger: logger)
            var found: (String, String?, String?)? = nil
            for try await row in rows.decode((String, String?, String?).self) { found = row }
            guard let (statusText, orderID, paymentID) = found else { return (nil, nil) }
            let status = DeadLetter.Status(rawValue: statusText) ?? .open
            guard status == .open else { return (status, nil) }
            if let paymentID, let state = paymentState.flatMap(PaymentState.init(rawValue:)), !state.isTerminal {
                return (status, DiscardRefused(
                    description: "dead letter \(id): payment \(paymentID) is still \(state.rawValue) (its outcome is not known), "
                        + "so discarding would leave it unresolved; `cashier dlq replay \(id) --reason …` looks it up"))
            }
            try await connection.query(
                """
                WITH closed AS (
                    UPDATE dead_letters SET status = 'discarded', updated_at = now() WHERE id = \(id)
                )
                INSERT INTO dead_letter_actions (dead_letter_id, order_id, action, actor, reason, outcome, detail, finished_at)
                VALUES (\(id), \(orderID), 'discard', \(actor), \(reason), 'discarded', '', now())
                """, logger: logger)
            return (.open, nil)
        }
        if let refusal { throw refusal }
        return status
    }
}

extension DeadLetterStore {
    /// The accepted order with this id, if any.
    public func order(_ orderID: String) async throws -> OrderCreated? {
        let rows = try await client.query(
            """
            SELECT event_id, order_id, user_id, item_id, price, currency, discount, channel, payment_method, created_at
            FROM orders WHERE order_id = \(orderID)
            """, logger: logger)
        for try await row in rows.decode((String, String, String, String, Int64, String, String, String, String, String?).self) {
            return try PaymentStore.order(
                eventID: row.0, orderID: row.1, userID: row.2, itemID: row.3, price: row.4, currency: row.5, discount: row.6,
                channel: row.7, paymentMethod: row.8, createdAt: row.9)
        }
        return nil
    }
}

/// A dead letter that must not be discarded: its payment's outcome is still open.
public struct DiscardRefused: Error, CustomStringConvertible {
    public let description: String
}
