import CashierCore
import CashierStore
import Foundation
import Kafka
import Logging
import PostgresNIO

/// A private pipeline for one test: its own dev broker, sandbox, database and workers, so the
/// test can set channel latency, concurrency, breaker or lease settings (or kill processes)
/// without touching the shared pipeline — and the shared retry worker and sweeper never touch
/// the stage's payments. The database is a fresh one in the shared cluster unless the test
/// passes its own URL.
final class Stage: Sendable {
    let brokers: String
    let sandboxURL: String
    let producer: KafkaProducer
    /// The stage's database, for assertions.
    let db: PostgresClient
    let group = "cashier-stage-\(UUID().uuidString.prefix(8))"
    let environment: [String: String]
    private let broker: CashierProcess
    private let sandbox: CashierProcess

    init(
        sandbox sandboxArguments: [String] = [], environment extra: [String: String] = [:], databaseURL: String? = nil, partitions: Int = 3
    ) async throws {
        let pipeline = try await Pipeline.shared()
        broker = try CashierProcess("stage-kafka", ["kafka-dev", "--partitions", String(partitions)])
        brokers = try await broker.value(after: "bootstrap=")
        sandbox = try CashierProcess(
            "stage-sandbox", ["sandbox", "--port", "0", "--keys-dir", pipeline.keysDirectory, "--wechat-settle-ms", "200"] + sandboxArguments)
        sandboxURL = try await sandbox.value(after: "sandbox=")
        var environment = Pipeline.workerEnvironment(sandboxURL).merging(extra) { $1 }
        environment["CASHIER_ALIPAY_URL"] = sandboxURL + "/gateway.do"
        environment["CASHIER_WECHAT_URL"] = sandboxURL
        let url: String
        if let databaseURL {
            url = databaseURL
        } else {
            let name = "stage_" + UUID().uuidString.prefix(8).lowercased()
            try await pipeline.db.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: pipeline.logger)
            guard let shared = Pipeline.databaseURL, let slash = shared.lastIndex(of: "/") else { throw TestFailure("no database URL") }
            let rest = shared[slash...].drop { $0 != "?" }
            url = shared[..<slash] + "/" + name + rest
        }
        let (status, _, stderr) = try await CashierProcess.run(["migrate", "--database-url", url])
        guard status == 0 else { throw TestFailure("migrate failed: \(stderr)") }
        environment["CASHIER_DATABASE_URL"] = url
        self.environment = environment
        var configuration = try DatabaseURL.configuration(url)
        configuration.options.maximumConnections = 2
        let db = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "stage-db"))
        Task { await db.run() }
        self.db = db
        producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: brokers), logger: Logger(label: "stage"))
    }

    /// Starts a `cashier worker` in the stage's group; waits until it owns partitions.
    func worker(_ name: String = "stage-worker", concurrency: Int = 16, arguments: [String] = []) async throws -> CashierProcess {
        var command = Pipeline.workerArguments(brokers: brokers, group: group) + arguments
        if let index = command.firstIndex(of: "--concurrency") { command[index + 1] = String(concurrency) }
        let process = try CashierProcess(name, command, environment: environment)
        try await eventually("\(name) to join its group", timeout: .seconds(60)) { process.log.contains("partitions assigned") }
        return process
    }

    func retryWorker(_ name: String = "stage-retry", arguments: [String] = []) async throws -> CashierProcess {
        let process = try CashierProcess(
            name, Pipeline.retryWorkerArguments(brokers: brokers, group: group + "-retry") + arguments, environment: environment)
        try await eventually("\(name) to join its group", timeout: .seconds(60)) { process.log.contains("partitions assigned") }
        return process
    }

    @discardableResult
    func publish(_ order: OrderCreated) async throws -> EventOrigin {
        try await publish(Array(order.json().utf8), key: order.orderID)
    }

    @discardableResult
    func publish(_ bytes: [UInt8], key: String?) async throws -> EventOrigin {
        let report = try await producer.send(OutgoingMessage(topic: "orders.created", key: key.map { Array($0.utf8) }, value: bytes))
        return EventOrigin(topic: "orders.created", partition: report.partition, offset: report.offset, value: bytes)
    }

    /// How many records of `orders.created` the group has not committed (read by joining the
    /// group once its workers have stopped).
    func uncommittedOrders() async throws -> Int {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: brokers, options: [("fetch.wait.max.ms", "10")]), groupID: group,
            topics: ["orders.created"], logger: Logger(label: "stage-offsets"))
        var count = 0
        let deadline = ContinuousClock.now + .seconds(8)
        while ContinuousClock.now < deadline { count += try await consumer.poll(maxMessages: 1000, timeout: .milliseconds(200)).count }
        await consumer.close()
        return count
    }
}
