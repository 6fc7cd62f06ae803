import ArgumentParser
import AsyncHTTPClient
import CashierChannels
import CashierOps
import CashierStore
import CashierWorker
import Foundation
import Logging

struct DlqReplayCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay dead letters: ask the channel first, charge at most once with the same idempotency key.",
        discussion: """
            For each open dead letter: if the channel already holds the charge, the payment is settled as succeeded \
            without a call; otherwise one call is made with the payment's own idempotency key. A payment that has \
            succeeded is never touched. Results are published by the running workers' outbox relay. \
            More than one dead letter needs --yes, or a confirmation typed on a terminal.
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var channels: ChannelOptions
    @Option(name: .customLong("id"), parsing: .upToNextOption, help: "Dead letter ids to replay.")
    var ids: [Int64] = []
    @Option(name: .customLong("order-id"), parsing: .upToNextOption, help: "Replay the open dead letters of these orders.")
    var orderIDs: [String] = []
    @Flag(help: "Replay every open dead letter.")
    var all = false
    @Flag(help: "Show what would happen (asking the channel, read-only) and change nothing.")
    var dryRun = false
    @Flag(help: "Do not ask for confirmation.")
    var yes = false
    @Option(help: "Who replays (default: $USER@host); kept in the audit trail.")
    var actor: String?
    @Option(help: "Why (kept in the audit trail).")
    var reason: String = "(no reason given)"
    @Option(help: "Replays per second at most (default 20).")
    var rate: Double = 20

    func validate() throws {
        let selectors = (ids.isEmpty ? 0 : 1) + (orderIDs.isEmpty ? 0 : 1) + (all ? 1 : 0)
        guard selectors == 1 else { throw CLIError("choose which dead letters to replay: exactly one of --id ID…, --order-id ORDER…, --all") }
        guard rate > 0, rate.isFinite else { throw CLIError("--rate \(rate) must be a positive number of replays per second") }
    }

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let postgres = try database.resolve(settings)
        let resolvedChannels = try channels.resolve(settings)
        let logger = Logger(label: "cashier.dlq")
        var filter = DeadLetterFilter()
        // Explicit ids are looked up in any status so a second replay can say what it found.
        filter.statuses = ids.isEmpty ? [.open] : DeadLetter.Status.allCases
        filter.ids = ids.isEmpty ? nil : ids
        filter.orderIDs = orderIDs.isEmpty ? nil : orderIDs
        let (actor, reason, dryRun, yes, rate, ids) = (DlqArguments.actor(self.actor), self.reason, self.dryRun, self.yes, self.rate, self.ids)
        let http = ChannelHTTP.makeClient(maxConnectionsPerHost: 4)
        // Long enough for a lookup and one call, with room to record them.
        let lease = resolvedChannels.timeout * 2 + .seconds(30)
        let query = filter
        let counts: [DeadLetterReplayer.Report.Kind: Int]
        // A replay's spans (when tracing is on) are sent before the command returns.
        do { counts = try await TracingSetup.exporting(logger: logger) { try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).requireCurrent()
            let store = DeadLetterStore(client: client, logger: logger)
            let letters = try await store.list(query)
            let missing = Set(ids).subtracting(letters.map(\.id))
            if !missing.isEmpty {
                throw CLIError("no dead letter with id \(missing.sorted().map(String.init).joined(separator: ", ")); `cashier dlq list --status all` shows them all")
            }
            guard !letters.isEmpty else {
                Output.line("no open dead letters match; nothing to replay")
                return [:] as [DeadLetterReplayer.Report.Kind: Int]
            }
            if !dryRun && !yes && letters.count > 1 { try Self.confirm(letters.count) }
            let replayer = DeadLetterReplayer(store: store, channels: resolvedChannels.registry(client: http, logger: logger, limit: 4), lease: lease, logger: logger)
            var counts: [DeadLetterReplayer.Report.Kind: Int] = [:]
            let interval = Duration.seconds(1 / rate)
            for (index, letter) in letters.enumerated() {
                let started = ContinuousClock.now
                // A charge on other terms is accepted only for a letter named here, never by --all.
                let report = dryRun
                    ? try await replayer.plan(letter, acceptingOtherTerms: !all)
                    : try await replayer.replay(letter, actor: actor, reason: reason, acceptingOtherTerms: !all)
                counts[report.kind, default: 0] += 1
                Output.line("[\(index + 1)/\(letters.count)] dead letter \(letter.id) order \(letter.orderID ?? "-"): \(report.kind.rawValue) — \(report.detail)")
                if index + 1 < letters.count { try? await Task.sleep(until: started + interval) }
            }
            return counts
        } } } catch {
            try? await http.shutdown()
            throw error
        }
        try? await http.shutdown()
        guard !counts.isEmpty else { return }
        let summary = counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        Output.line(dryRun ? "dry run, nothing changed: \(summary)" : "replay done by \(actor): \(summary)")
    }

    /// Several dead letters at once: a typed confirmation on a terminal, or `--yes`.
    static func confirm(_ count: Int) throws {
        guard isatty(STDIN_FILENO) == 1 else {
            throw CLIError("refusing to replay \(count) dead letters without confirmation: no terminal is attached; pass --yes")
        }
        FileHandle.standardError.write(Data("Replay \(count) dead letters? Each is charged at most once, with its own idempotency key. Type yes to go on: ".utf8))
        guard let answer = readLine(), ["yes", "y"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw CLIError("replay cancelled; nothing changed")
        }
    }
}
