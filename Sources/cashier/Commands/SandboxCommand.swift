import ArgumentParser
import CashierOps
import CashierSandbox
import Foundation
import Hummingbird
import Logging

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "A local simulator of the channels' wire protocols, with fault injection.",
        subcommands: [SandboxServeCommand.self, SandboxKeysCommand.self],
        defaultSubcommand: SandboxServeCommand.self)
}

struct SandboxServeCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the card, Alipay and WeChat Pay protocols (the default).",
        discussion: """
            Prints sandbox=http://HOST:PORT as the first line of stdout. GET /_sandbox/charges lists executed charges.
            Card payment methods: pm_card_chargeDeclined, pm_card_chargeDeclinedInsufficientFunds (declines),
            pm_sandbox_slow (charged, answered after --slow-answer-ms), pm_sandbox_hold_<ms> (held before charging),
            pm_sandbox_unavailable (always 503), pm_sandbox_flaky_<n> (503 for the first n calls of a key),
            pm_sandbox_processing_<ms> (answered "processing", succeeds <ms> later; a repeat replays "processing"),
            pm_sandbox_stall (charged; the answer stops after its headers and half its body, held open up to 120 s;
            a repeat replays it whole).
            Alipay agreement numbers: AGR_BALANCE (declined), AGR_SYSTEM_ERROR (paid, answered ACQ.SYSTEM_ERROR),
            AGR_UNAVAILABLE_<n> (20000 for n calls), AGR_FORGED (a forged success answer), AGR_INPROCESS_<ms>
            (10003, WAIT_BUYER_PAY, paid <ms> later); others are paid.
            WeChat Pay contract ids: wx_contract_notenough (403), wx_contract_unavailable_<n> (503 for n calls),
            wx_contract_slow_<ms> (pending that long), wx_contract_nonotify (no notification); others settle after
            --wechat-settle-ms. Alipay and WeChat Pay need --keys-dir (see `cashier sandbox keys`).
            """)

    @OptionGroup var options: SandboxOptions

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        let server = try SandboxServer(configuration: try options.configuration())
        let app = server.application(host: options.host, port: options.port, logger: Logger(label: "cashier.sandbox")) { port in
            Output.line("sandbox=http://\(options.host):\(port)")
        }
        try await Listener.sandbox(host: options.host, port: options.port).explaining { try await app.runService() }
    }
}

struct SandboxOptions: ParsableArguments {
    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 8090
    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"
    @Option(name: .customLong("latency-ms"), help: "Added to every answer.")
    var latencyMilliseconds: Int = 0
    @Option(help: "Share of charges declined, 0...1.")
    var declineRate: Double = 0
    @Option(help: "Share of calls answered 5xx/429 without charging, 0...1.")
    var errorRate: Double = 0
    @Option(help: "Share of charges made but answered late (after --slow-answer-ms), 0...1.")
    var timeoutRate: Double = 0
    @Option(name: .customLong("slow-answer-ms"), help: "How late a slow answer comes.")
    var slowAnswerMilliseconds: Int = 15_000
    @Option(help: "A key set written by `cashier sandbox keys` (enables Alipay and WeChat Pay).")
    var keysDir: String?
    @Option(name: .customLong("wechat-settle-ms"), help: "How long an accepted WeChat Pay deduction stays pending.")
    var wechatSettleMilliseconds: Int = 300

    func configuration() throws -> SandboxConfiguration {
        guard (0...65535).contains(port) else { throw CLIError("--port \(port) is out of range; use 0...65535") }
        guard (0...60_000).contains(latencyMilliseconds) else { throw CLIError("--latency-ms \(latencyMilliseconds) is out of range; use 0...60000") }
        guard (0...600_000).contains(slowAnswerMilliseconds) else { throw CLIError("--slow-answer-ms is out of range; use 0...600000") }
        for (name, rate) in [("--decline-rate", declineRate), ("--error-rate", errorRate), ("--timeout-rate", timeoutRate)] {
            guard (0...1).contains(rate) else { throw CLIError("\(name) \(rate) is not a share; use a number from 0 to 1, e.g. 0.05") }
        }
        guard declineRate + errorRate + timeoutRate <= 1 else {
            throw CLIError("--decline-rate + --error-rate + --timeout-rate add up to more than 1; lower them")
        }
        var configuration = SandboxConfiguration()
        configuration.latency = .milliseconds(latencyMilliseconds)
        configuration.declineRate = declineRate
        configuration.errorRate = errorRate
        configuration.timeoutRate = timeoutRate
        configuration.slowAnswer = .milliseconds(slowAnswerMilliseconds)
        guard (0...600_000).contains(wechatSettleMilliseconds) else { throw CLIError("--wechat-settle-ms is out of range; use 0...600000") }
        configuration.wechatSettle = .milliseconds(wechatSettleMilliseconds)
        if let keysDir { configuration.keys = try Self.keys(from: keysDir) }
        return configuration
    }

    static func keys(from directory: String) throws -> SandboxKeys {
        do {
            return try SandboxKeys.load(from: directory)
        } catch {
            throw CLIError(error.description)
        }
    }
}

struct SandboxKeysCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Write a matching set of development keys (Alipay app/platform, WeChat Pay merchant/platform, APIv3 key).",
        discussion: "Also writes DIR/cashier.env with the CASHIER_ALIPAY_* and CASHIER_WECHAT_* settings that use them. For development only.")

    @Option(help: "Directory to write into (created if missing).")
    var dir: String

    func run(with settings: SettingsReader) async throws {
        do {
            try SandboxKeys.generate(into: dir)
        } catch {
            throw CLIError("cannot write keys into \(dir): \(error.localizedDescription)")
        }
        Output.line("keys written to \(dir); settings in \(dir)/\(SandboxKeys.File.environment)")
    }
}
