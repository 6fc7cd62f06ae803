public import Foundation
import CashierCore
public import Logging
public import PostgresNIO

/// Figures for `cashier stats`, straight from Postgres.
public struct StatsStore: Sendable {
    public struct ChannelFigures: Sendable, Equatable {
        public let channel: String
        public let succeeded: Int
        public let failed: Int
        public let pending: Int
    }

    public struct CurrencyFigures: Sendable, Equatable {
        public let currency: String
        public let payments: Int
        /// Sum of succeeded amounts, in minor units.
        public let amount: Int64
    }

    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Per channel: payments settled since `since` (succeeded, failed) and those still open.
    public func channels(since: Date) async throws -> [ChannelFigures] {
        try await StoreError.classifying { try await channelFigures(since: since) }
    }

    private func channelFigures(since: Date) async throws -> [ChannelFigures] {
        let open = PaymentState.open.map(\.rawValue)
        let rows = try await client.query(
            """
            SELECT channel,
                   (count(*) FILTER (WHERE state = \(PaymentState.succeeded.rawValue) AND settled_at >= \(since)))::integer,
                   (count(*) FILTER (WHERE state = \(PaymentState.failed.rawValue) AND settled_at >= \(since)))::integer,
                   (count(*) FILTER (WHERE state = ANY(\(open)::text[])))::integer
            FROM payments
            WHERE settled_at >= \(since) OR state = ANY(\(open)::text[])
            GROUP BY channel ORDER BY channel
            """, logger: logger)
        var figures: [ChannelFigures] = []
        for try await row in rows.decode((String, Int, Int, Int).self) {
            figures.append(ChannelFigures(channel: row.0, succeeded: row.1, failed: row.2, pending: row.3))
        }
        return figures
    }

    /// Per currency: succeeded payments since `since` and their total amount.
    public func currencies(since: Date) async throws -> [CurrencyFigures] {
        try await StoreError.classifying { try await currencyFigures(since: since) }
    }

    private func currencyFigures(since: Date) async throws -> [CurrencyFigures] {
        let rows = try await client.query(
            """
            SELECT currency, count(*)::integer, sum(amount)::bigint FROM payments
            WHERE state = \(PaymentState.succeeded.rawValue) AND settled_at >= \(since)
            GROUP BY currency ORDER BY currency
            """, logger: logger)
        var figures: [CurrencyFigures] = []
        for try await row in rows.decode((String, Int, Int64).self) { figures.append(CurrencyFigures(currency: row.0, payments: row.1, amount: row.2)) }
        return figures
    }

    /// Events rejected since `since` (invalid input, never charged).
    public func rejected(since: Date) async throws -> Int {
        try await StoreError.classifying {
            let rows = try await client.query(
                "SELECT count(*)::integer FROM inbox WHERE disposition = 'rejected' AND received_at >= \(since)", logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}
