import ArgumentParser
import CashierOps
import CashierStore
import CashierWorker
import Hummingbird
import Logging
import ServiceLifecycle

struct NotifyServerCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-server",
        abstract: "Receive the channels' payment notifications (Alipay, WeChat Pay) and settle the payments they name.",
        discussion: """
            Serves POST /notify/alipay and POST /notify/wechat. Every notification is verified (signature, freshness, merchant) \
            and forged or stale ones are refused with a logged reason. Settling is idempotent and gives the same final state \
            as a query; results go out through the outbox (published by the workers' relays). Point CASHIER_NOTIFY_BASE_URL of \
            the workers at this server's public URL.
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var channels: ChannelOptions
    @Option(name: .customLong(Settings.notifyPort.flag!), help: Settings.notifyPort.flagHelp)
    var port: Int?
    @Option(help: "Address to listen on.")
    var host: String = "0.0.0.0"

    func run(with settings: SettingsReader) async throws {
        try LogSetup.bootstrap(settings)
        MetricsSetup.bootstrap()
        let logger = Logger(label: "cashier.notify")
        let port = try settings.value(Settings.notifyPort, flag: self.port)
        let postgres = try database.resolve(settings)
        let keys = try channels.resolve(settings, forNotifications: true).notificationKeys
        let host = self.host
        let listener = Listener.notifications(host: host, port: port)
        try await listener.ensureAvailable()
        try await PostgresRuntime.with(url: postgres.url, postgres.configuration, logger: logger) { client in
            try await Migrator(client: client, logger: logger).requireCurrent()
            let receiver = NotificationReceiver(store: PaymentStore(client: client, logger: logger, worker: "notify"), keys: keys, logger: logger)
            var readiness = Readiness()
            readiness.checks.append(("postgres (reachable, schema current)", {
                try await Migrator(client: client, logger: logger).requireCurrent()
                return true
            }))
            let app = NotifyServer.application(receiver: receiver, host: host, port: port, readiness: readiness, logger: logger) { port in
                Output.line("notify=http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)")
            }
            let group = ServiceGroup(configuration: .init(services: [listener.service(app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}
