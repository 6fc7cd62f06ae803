import ArgumentParser
import CashierCore
import CashierStore
import Foundation
import Logging

struct StatsCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Success and failure rates per channel, volumes and amounts per currency, from Postgres.",
        discussion: "Rates are over payments settled in the period: success = succeeded / settled, failure = failed / settled.")

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The period: a duration back from now (15m, 1h, 7d) or a timestamp (default 1h).")
    var since: String = "1h"
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let start = try SinceArgument.parse(since)
        let postgres = try database.resolve(settings)
        let logger = Logger(label: "cashier.stats")
        let (channels, currencies, rejected) = try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).requireCurrent()
            let store = StatsStore(client: client, logger: logger)
            return (try await store.channels(since: start), try await store.currencies(since: start), try await store.rejected(since: start))
        }
        Output.line(json ? Self.json(channels, currencies, rejected, since: start) : Self.table(channels, currencies, rejected, since: start))
    }

    static func rate(_ part: Int, _ whole: Int) -> Double? { whole > 0 ? Double(part) / Double(whole) : nil }

    static func amount(_ minor: Int64, _ code: String) -> String {
        Currency(code: code).map { $0.majorUnitString(minor) } ?? "\(minor) (minor units)"
    }

    static func table(_ channels: [StatsStore.ChannelFigures], _ currencies: [StatsStore.CurrencyFigures], _ rejected: Int, since: Date) -> String {
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

    static func json(_ channels: [StatsStore.ChannelFigures], _ currencies: [StatsStore.CurrencyFigures], _ rejected: Int, since: Date) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("since", TextFormat.timestamp(since))
        writer.key("channels")
        writer.beginArray()
        for figures in channels {
            let settled = figures.succeeded + figures.failed
            writer.beginObject()
            writer.member("channel", figures.channel)
            writer.member("settled", Int64(settled))
            writer.member("succeeded", Int64(figures.succeeded))
            writer.member("failed", Int64(figures.failed))
            writer.member("in_progress", Int64(figures.pending))
            writer.key("success_rate")
            if let value = rate(figures.succeeded, settled) { writer.raw(String(format: "%.4f", value)) } else { writer.null() }
            writer.key("failure_rate")
            if let value = rate(figures.failed, settled) { writer.raw(String(format: "%.4f", value)) } else { writer.null() }
            writer.endObject()
        }
        writer.endArray()
        writer.key("currencies")
        writer.beginArray()
        for figures in currencies {
            writer.beginObject()
            writer.member("currency", figures.currency)
            writer.member("payments", Int64(figures.payments))
            writer.member("amount_minor", figures.amount)
            writer.member("amount", amount(figures.amount, figures.currency))
            writer.endObject()
        }
        writer.endArray()
        writer.member("rejected", Int64(rejected))
        writer.endObject()
        return writer.text
    }
}
