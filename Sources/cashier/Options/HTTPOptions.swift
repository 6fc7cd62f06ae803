import ArgumentParser
import CashierOps

/// The operations listener (`/healthz`, `/readyz`, `/metrics`).
struct HTTPOptions: ParsableArguments {
    @Option(name: .customLong(Settings.httpPort.flag!), help: Settings.httpPort.flagHelp)
    var httpPort: Int?
    @Option(name: .customLong("http-host"), help: "Address of that listener (default 0.0.0.0).")
    var httpHost: String = "0.0.0.0"

    /// `fallback`: the port when nothing sets one (`cashier dev` picks a free one).
    func port(_ settings: SettingsReader, default fallback: Int? = nil) throws -> Int {
        try settings.value(Settings.httpPort, flag: httpPort, default: fallback)
    }

    /// The listener these options give.
    func listener(_ settings: SettingsReader, default fallback: Int? = nil) throws -> Listener {
        .ops(host: httpHost, port: try port(settings, default: fallback))
    }
}
