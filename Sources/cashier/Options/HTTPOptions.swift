import ArgumentParser

/// The operations listener (`/healthz`, `/readyz`, `/metrics`).
struct HTTPOptions: ParsableArguments {
    @Option(name: .customLong("http-port"), help: "Port of /healthz, /readyz and /metrics (env CASHIER_HTTP_PORT, default 8080; 0 picks a free one).")
    var httpPort: Int?
    @Option(name: .customLong("http-host"), help: "Address of that listener (default 0.0.0.0).")
    var httpHost: String = "0.0.0.0"

    func port(default fallback: Int = 8080) throws -> Int {
        try Env.int(httpPort, "CASHIER_HTTP_PORT", default: fallback, range: 0...65535, flagName: "--http-port")
    }

    /// The listener these options give.
    func listener(default fallback: Int = 8080) throws -> Listener {
        .ops(host: httpHost, port: try port(default: fallback))
    }
}
