import ArgumentParser
import CashierCore
import CashierOps
import CashierStore
import Foundation
import Logging

/// `cashier dlq`: the operators' view of the dead letters.
struct DlqCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Operate the dead letters: list, show, replay, discard.",
        discussion: "Every replay and discard is recorded in Postgres (dead_letter_actions): who, when, why, what happened.",
        subcommands: [DlqListCommand.self, DlqShowCommand.self, DlqReplayCommand.self, DlqDiscardCommand.self])
}

struct DlqListCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List dead letters (open ones unless --status says otherwise).")

    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print a JSON array instead of a table.")
    var json = false
    @Option(help: "Only this channel (card, alipay, wechat).")
    var channel: String?
    @Option(help: "Only this reason code (e.g. retries_exhausted, order_conflict).")
    var reason: String?
    @Option(help: "Only dead letters created since: a duration (30m, 6h, 2d) or a timestamp (2026-11-24T10:00:00Z).")
    var since: String?
    @Option(help: "open, replayed, discarded or all (default open).")
    var status: String = "open"

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        var filter = DeadLetterFilter()
        filter.statuses = try DlqArguments.statuses(status)
        filter.channel = try channel.map(DlqArguments.channel)
        filter.reasonCode = reason
        filter.since = try since.map { try SinceArgument.parse($0) }
        let postgres = try database.resolve(settings)
        let logger = Logger(label: "cashier.dlq")
        let query = filter
        let letters = try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).requireCurrent()
            return try await DeadLetterStore(client: client, logger: logger).list(query)
        }
        if json {
            Output.line(DeadLetterFormat.json(letters))
        } else {
            Output.line(DeadLetterFormat.table(letters))
        }
    }
}

struct DlqShowCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one dead letter: the order, every attempt, the errors, the actions taken.")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The dead letter's id (from `cashier dlq list`).")
    var id: Int64

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let postgres = try database.resolve(settings)
        let logger = Logger(label: "cashier.dlq")
        let id = self.id
        let text = try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client -> String in
            try await Migrator(client: client, logger: logger).requireCurrent()
            let store = DeadLetterStore(client: client, logger: logger)
            guard let letter = try await store.letter(id: id) else {
                throw CLIError("no dead letter with id \(id); `cashier dlq list --status all` shows them all")
            }
            let payment = try await letter.paymentID.asyncMap { try await store.payment($0) } ?? nil
            let attempts = try await letter.paymentID.asyncMap { try await store.attempts($0) } ?? []
            return DeadLetterFormat.detail(letter, payment: payment, attempts: attempts, actions: try await store.actions(id))
        }
        Output.line(text)
    }
}

struct DlqDiscardCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "discard", abstract: "Close an open dead letter without acting on it (audited; the order's result stands).")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The dead letter's id.")
    var id: Int64
    @Option(help: "Why it is discarded (required; kept in the audit trail).")
    var reason: String
    @Option(help: "Who discards it (default: $USER).")
    var actor: String?

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw CLIError("--reason is empty; say why the dead letter is discarded") }
        let postgres = try database.resolve(settings)
        let logger = Logger(label: "cashier.dlq")
        let (id, actor, reason) = (self.id, DlqArguments.actor(actor), self.reason)
        let previous = try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).requireCurrent()
            return try await DeadLetterStore(client: client, logger: logger).discard(id, actor: actor, reason: reason)
        }
        switch previous {
        case nil: throw CLIError("no dead letter with id \(id); `cashier dlq list --status all` shows them all")
        case .open?: Output.line("dead letter \(id) discarded by \(actor)")
        case let status?: Output.line("dead letter \(id) is already \(status.rawValue); nothing changed")
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
