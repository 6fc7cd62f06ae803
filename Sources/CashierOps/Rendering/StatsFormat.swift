import CashierCore
public import CashierStore
public import Foundation

/// How `cashier stats` reads on a terminal and in JSON: rates over the payments settled in the
/// period, amounts in major units of their currency.
public enum StatsFormat {
    private static func rate(_ part: Int, _ whole: Int) -> Double? { whole > 0 ? Double(part) / Double(whole) : nil }

    private static func amount(_ minor: Int64, _ code: String) -> String {
        Currency(code: code).map { $0.majorUnitString(minor) } ?? "\(minor) (minor units)"
    }

    /// `cashier stats`.
    public static func table(_ channels: [StatsStore.ChannelFigures], _ currencies: [StatsStore.CurrencyFigures], _ rejected: Int, since: Date) -> String {
        func percent(_ value: Double?) -> String { value.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        var rows = [["CHANNEL", "SETTLED", "SUCCEEDED", "FAILED", "SUCCESS RATE", "FAILURE RATE", "IN PROGRESS"]]
        for figures in channels {
            let settled = figures.succeeded + figures.failed
            rows.append([figures.channel, String(settled), String(figures.succeeded), String(figures.failed),
                         percent(rate(figures.succeeded, settled)), percent(rate(figures.failed, settled)), String(figures.pending)])
        }
        var money = [["CURRENCY", "PAYMENTS", "AMOUNT"]]
        for figures in currencies { money.append([figures.currency, String(figures.payments), amount(figures.amount, figures.currency)]) }
        return """
            since \(TextFormat.timestamp(since))
            \(TextFormat.columns(rows))

            \(currencies.isEmpty ? "no succeeded payments" : TextFormat.columns(money))

            rejected events: \(rejected)
            """
    }

    /// `cashier stats --json`.
    public static func json(_ channels: [StatsStore.ChannelFigures], _ currencies: [StatsStore.CurrencyFigures], _ rejected: Int, since: Date) -> String {
        EventJSON.text(Report(
            since: TextFormat.timestamp(since),
            channels: channels.map { figures in
                let settled = figures.succeeded + figures.failed
                return .init(
                    channel: figures.channel, settled: settled, succeeded: figures.succeeded, failed: figures.failed, inProgress: figures.pending,
                    successRate: fourPlaces(rate(figures.succeeded, settled)), failureRate: fourPlaces(rate(figures.failed, settled)))
            },
            currencies: currencies.map {
                .init(currency: $0.currency, payments: $0.payments, amountMinor: $0.amount, amount: amount($0.amount, $0.currency))
            },
            rejected: rejected))
    }

    /// A rate as an exact decimal of four places (`0.9375`), so the JSON number is that text.
    private static func fourPlaces(_ rate: Double?) -> Decimal? {
        rate.flatMap { Decimal(string: String(format: "%.4f", $0), locale: Locale(identifier: "en_US_POSIX")) }
    }

    /// `cashier stats --json`.
    struct Report: Encodable {
        struct ChannelFigures: Encodable {
            var channel: String
            var settled: Int
            var succeeded: Int
            var failed: Int
            var inProgress: Int
            var successRate: Decimal?
            var failureRate: Decimal?

            enum CodingKeys: String, CodingKey {
                case channel, settled, succeeded, failed, inProgress = "in_progress", successRate = "success_rate", failureRate = "failure_rate"
            }

            /// A rate with nothing settled is null.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(channel, forKey: .channel)
                try container.encode(settled, forKey: .settled)
                try container.encode(succeeded, forKey: .succeeded)
                try container.encode(failed, forKey: .failed)
                try container.encode(inProgress, forKey: .inProgress)
                try container.encode(successRate, forKey: .successRate)
                try container.encode(failureRate, forKey: .failureRate)
            }
        }

        struct CurrencyFigures: Encodable {
            var currency: String
            var payments: Int
            var amountMinor: Int64
            var amount: String
            enum CodingKeys: String, CodingKey { case currency, payments, amountMinor = "amount_minor", amount }
        }

        var since: String
        var channels: [ChannelFigures]
        var currencies: [CurrencyFigures]
        var rejected: Int
    }
}
