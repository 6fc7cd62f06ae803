import AsyncHTTPClient
import CashierCore
import CashierStore
import Foundation
import Kafka
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The shared end-to-end environment: Postgres (`CASHIER_TEST_DATABASE_URL`), a Kafka broker
/// (`CASHIER_TEST_KAFKA_BROKERS`, else `cashier kafka-dev`), `cashier sandbox`, and one
/// long-lived `cashier worker`. Started once per test process: group joins take seconds.
final class Pipeline: Sendable {
    static let databaseURL = ProcessInfo.processInfo.environment["CASHIER_TEST_DATABASE_URL"]
    static let isAvailable = databaseURL != nil

    private static let instance = Task { try await Pipeline() }
    static func shared() async throws -> Pipeline { try await instance.value }

    /// A new database on the shared cluster, named `prefix` and a fresh id, migrated by
    /// `cashier migrate`: its URL.
    static func migratedDatabase(_ prefix: String) async throws -> String {
        let pipeline = try await shared()
        let name = prefix + "_" + UUID().uuidString.prefix(8).lowercased()
        try await pipeline.db.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: pipeline.logger)
        guard let shared = databaseURL, let slash = shared.lastIndex(of: "/") else { throw TestFailure("no database URL") }
        let url = shared[..<slash] + "/" + name + shared[slash...].drop { $0 != "?" }
        let (status, _, stderr) = try await CashierProcess.run(["migrate", "--database-url", url])
        guard status == 0 else { throw TestFailure("migrate failed: \(stderr)") }
        return url
    }

    let brokers: String
    let sandboxURL: String
    let groupID = "cashier-e2e-\(UUID().uuidString.prefix(8))"
    let db: PostgresClient
    let producer: KafkaProducer
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let logger = Logger(label: "e2e")
    let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    // Keep the child processes alive for the whole run.
    private let children: [CashierProcess]
    let worker: CashierProcess
    let notify: CashierProcess
    let notifyURL: String
    let keysDirectory: String
    private let retryWorkerProcess: Mutex<CashierProcess>
    /// The current `cashier retry-worker` (tests may kill and replace it).
    var retryWorker: CashierProcess { retryWorkerProcess.withLock { $0 } }

    private init() async throws {
        guard let url = Self.databaseURL else { throw TestFailure("CASHIER_TEST_DATABASE_URL is not set; run `make test`") }
        var children: [CashierProcess] = []
        if let external = ProcessInfo.processInfo.environment["CASHIER_TEST_KAFKA_BROKERS"] {
            brokers = external
        } else {
            let broker = try CashierProcess("kafka-dev", ["kafka-dev", "--partitions", "6"])
            children.append(broker)
            brokers = try await broker.value(after: "bootstrap=")
        }
        // Development keys for Alipay and WeChat Pay: the sandbox holds the channels' half.
        keysDirectory = NSTemporaryDirectory() + "cashier-e2e-keys-\(UUID().uuidString.prefix(8))"
        let (keysStatus, _, keysError) = try await CashierProcess.run(["sandbox", "keys", "--dir", keysDirectory])
        guard keysStatus == 0 else { throw TestFailure("sandbox keys failed: \(keysError)") }
        let sandbox = try CashierProcess(
            "sandbox", ["sandbox", "--port", "0", "--slow-answer-ms", "4000", "--keys-dir", keysDirectory, "--wechat-settle-ms", "200"])
        children.append(sandbox)
        sandboxURL = try await sandbox.value(after: "sandbox=")
        var channels = try Self.settings(keysDirectory + "/cashier.env")
        channels["CASHIER_ALIPAY_URL"] = sandboxURL + "/gateway.do"
        channels["CASHIER_WECHAT_URL"] = sandboxURL
        // The tests inject failures on purpose: only Alipay's breaker may open (the breaker test),
        // and it closes again quickly so it does not starve the other tests.
        channels["CASHIER_BREAKER_MIN_CALLS"] = "100000"
        channels["CASHIER_BREAKER_MIN_CALLS_ALIPAY"] = "8"
        channels["CASHIER_BREAKER_OPEN_MS"] = "3000"
        channels["CASHIER_BREAKER_MAX_WAIT_MS"] = "2000"
        // The sandbox's search does not lag: believe its "no charge" 5 s after a call, not 60.
        channels["CASHIER_LOOKUP_SEARCH_LAG_MS"] = "5000"
        Self.channelSettings.withLock { $0 = channels }

        let (status, _, stderr) = try await CashierProcess.run(["migrate", "--database-url", url])
        guard status == 0 else { throw TestFailure("migrate failed: \(stderr)") }

        var configuration = try DatabaseURL.configuration(url)
        configuration.options.maximumConnections = 8
        db = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let db = self.db
        Task { await db.run() }
        producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: brokers), logger: logger)

        notify = try CashierProcess("notify", ["notify-server", "--port", "0", "--host", "127.0.0.1"], environment: Self.workerEnvironment(sandboxURL))
        children.append(notify)
        let notifyURL = try await notify.value(after: "notify=")
        self.notifyURL = notifyURL
        Self.channelSettings.withLock { $0["CASHIER_NOTIFY_BASE_URL"] = notifyURL }

        worker = try CashierProcess("worker-1", Self.workerArguments(brokers: brokers, group: groupID), environment: Self.workerEnvironment(sandboxURL))
        children.append(worker)
        let retryWorker = try CashierProcess(
            "retry-1", Self.retryWorkerArguments(brokers: brokers, group: groupID + "-retry"), environment: Self.workerEnvironment(sandboxURL))
        retryWorkerProcess = Mutex(retryWorker)
        self.children = children
        // The workers are ready once they own partitions.
        let worker = self.worker
        try await eventually("worker-1 and retry-1 to join their groups", timeout: .seconds(60)) {
            worker.log.contains("partitions assigned") && retryWorker.log.contains("partitions assigned")
        }
    }

    /// Starts a new retry worker in place of the current one (which the caller has stopped).
    func restartRetryWorker() throws -> CashierProcess {
        let next = try CashierProcess(
            "retry-\(UUID().uuidString.prefix(4))", Self.retryWorkerArguments(brokers: brokers, group: groupID + "-retry"),
            environment: Self.workerEnvironment(sandboxURL))
        retryWorkerProcess.withLock { $0 = next }
        return next
    }

    /// Short backoff so retries finish within a test: waits of [200, 400], [400, 800],
    /// [800, 1600] ms, and 4 calls in all.
    static let retryPolicy = RetryPolicy(baseMilliseconds: 400, factor: 2, maxMilliseconds: 3000, maxAttempts: 4)
    static let retryArguments = [
        "--retry-base-ms", "400", "--retry-factor", "2", "--retry-max-ms", "3000", "--retry-max-attempts", "4",
    ]

    static func retryWorkerArguments(brokers: String, group: String) -> [String] {
        [
            "retry-worker", "--brokers", brokers, "--group-id", group, "--concurrency", "16", "--channel-timeout-ms", "2000", "--http-port", "0",
            "--kafka-option", "session.timeout.ms=6000", "--kafka-option", "heartbeat.interval.ms=500",
            "--kafka-option", "fetch.wait.max.ms=10",
        ] + retryArguments
    }

    static func workerArguments(brokers: String, group: String) -> [String] {
        [
            "worker", "--brokers", brokers, "--group-id", group, "--concurrency", "16", "--channel-timeout-ms", "2000", "--http-port", "0",
            "--kafka-option", "session.timeout.ms=6000", "--kafka-option", "heartbeat.interval.ms=500",
            "--kafka-option", "fetch.wait.max.ms=10",
        ] + retryArguments
    }

    /// The Alipay and WeChat Pay settings (from `cashier sandbox keys`), set once at start.
    private static let channelSettings = Mutex<[String: String]>([:])

    static func workerEnvironment(_ sandboxURL: String) -> [String: String] {
        channelSettings.withLock { $0 }.merging(
            ["CASHIER_CARD_URL": sandboxURL, "CASHIER_CARD_API_KEY": "sk_test_e2e", "CASHIER_DATABASE_URL": databaseURL ?? ""]) { $1 }
    }

    static func settings(_ path: String) throws -> [String: String] {
        var settings: [String: String] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return settings
    }

    // MARK: Publishing

    func orderID(_ name: String) -> String { "ord_\(runID)_\(name)" }

    func order(
        _ name: String, price: Int64 = 10000, discount: String = "0.10", paymentMethod: String = "pm_card_visa", eventID: String? = nil,
        channel: CashierCore.Channel = .card
    ) -> OrderCreated {
        OrderCreated(
            eventID: eventID ?? "evt_\(runID)_\(name)", orderID: orderID(name), userID: "u_1", itemID: "course_7", price: price,
            currency: .cny, discount: try! DiscountRatio(parsing: discount), channel: channel, paymentMethod: paymentMethod,
            createdAt: "2026-11-24T10:00:00Z")
    }

    @discardableResult
    func publish(_ order: OrderCreated) async throws -> EventOrigin {
        try await publish(Array(order.json().utf8), key: order.orderID)
    }

    /// Publishes one record; returns where it landed, with the digest the worker records, so a
    /// reused database (earlier runs at the same offsets) cannot confuse the assertions.
    @discardableResult
    func publish(_ bytes: [UInt8], key: String?, headers: [KafkaHeader] = []) async throws -> EventOrigin {
        let report = try await producer.send(OutgoingMessage(topic: "orders.created", key: key.map { Array($0.utf8) }, value: bytes, headers: headers))
        return EventOrigin(topic: "orders.created", partition: report.partition, offset: report.offset, value: bytes)
    }

    // MARK: Observing Postgres

    func paymentState(_ orderID: String, on stage: Stage? = nil) async throws -> String? {
        let rows = try await (stage?.db ?? db).query("SELECT state FROM payments WHERE order_id = \(orderID)", logger: logger)
        for try await state in rows.decode(String.self) { return state }
        return nil
    }

    /// The payment's row: state, attempts, reason code.
    func payment(_ orderID: String, on stage: Stage? = nil) async throws -> (state: String, attempts: Int, reason: String?)? {
        let rows = try await (stage?.db ?? db).query("SELECT state, attempts, reason_code FROM payments WHERE order_id = \(orderID)", logger: logger)
        for try await row in rows.decode((String, Int, String?).self) { return row }
        return nil
    }

    /// Per attempt: when it started and finished, and how it ended.
    func attempts(_ orderID: String, on stage: Stage? = nil) async throws -> [(number: Int, started: Date, finished: Date?, outcome: String?)] {
        let rows = try await (stage?.db ?? db).query(
            """
            SELECT a.attempt_no, a.started_at, a.finished_at, a.outcome FROM payment_attempts a JOIN payments p USING (payment_id)
            WHERE p.order_id = \(orderID) ORDER BY a.attempt_no
            """, logger: logger)
        var attempts: [(Int, Date, Date?, String?)] = []
        for try await row in rows.decode((Int, Date, Date?, String?).self) { attempts.append(row) }
        return attempts
    }

    func waitForTerminal(_ orderIDs: [String], timeout: Duration = .seconds(60), on stage: Stage? = nil) async throws {
        let db = stage?.db ?? self.db
        try await eventually("\(orderIDs.count) orders to settle", timeout: timeout) {
            let rows = try await db.query(
                "SELECT count(*)::integer FROM payments WHERE order_id = ANY(\(orderIDs)) AND state IN ('succeeded', 'failed')", logger: logger)
            for try await count in rows.decode(Int.self) { return count == orderIDs.count }
            return false
        }
    }

    func inboxDisposition(_ origin: EventOrigin, on stage: Stage? = nil) async throws -> (String, String?)? {
        let rows = try await (stage?.db ?? db).query(
            """
            SELECT disposition, reason_code FROM inbox
            WHERE source_topic = \(origin.topic) AND source_partition = \(origin.partition) AND source_offset = \(origin.offset)
              AND source_digest = \(origin.digest)
            """,
            logger: logger)
        for try await row in rows.decode((String, String?).self) { return row }
        return nil
    }

    func count(_ sql: String, on stage: Stage? = nil) async throws -> Int {
        let rows = try await (stage?.db ?? db).query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await value in rows.decode(Int.self) { return value }
        return 0
    }

    // MARK: Observing the sandbox

    /// Executed charges per order id, as the channel sandbox saw them.
    func charges(_ orderID: String, sandbox: String? = nil) async throws -> [(status: String, key: String, id: String)] {
        let response = try await http.execute(HTTPClientRequest(url: "\(sandbox ?? sandboxURL)/_sandbox/charges?order_id=\(orderID)"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 24)
        guard case .array(let charges)? = try JSONParser.parse(body.readableBytesView)["charges"] else { return [] }
        return charges.compactMap { charge in
            guard case .string(let status)? = charge["status"], case .string(let key)? = charge["idempotency_key"],
                case .string(let id)? = charge["id"]
            else { return nil }
            return (status, key, id)
        }
    }

    // MARK: Observing the results topic

    /// The headers of the first record on `topic` whose value names this order id.
    func headers(of orderID: String, topic: String = "payments.results", timeout: Duration = .seconds(30)) async throws -> [String: String] {
        let partitions = try await producer.partitionCount(topic: topic)
        let reader = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: brokers),
            readingFromBeginning: (0..<partitions).map { TopicPartition(topic: topic, partition: Int32($0)) }, logger: logger)
        defer { Task { await reader.close() } }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for message in try await reader.poll(maxMessages: 1000, timeout: .milliseconds(200)) {
                guard let value = try? JSONParser.parse(message.value), value["order_id"] == .string(orderID) else { continue }
                var headers: [String: String] = [:]
                for header in message.headers { headers[header.name] = header.value.map { String(decoding: $0, as: UTF8.self) } }
                return headers
            }
        }
        throw TestFailure("no record for \(orderID) on \(topic)")
    }

    /// Every result event on `payments.results` (or another topic) for these order ids,
    /// duplicates included.
    func results(
        for orderIDs: Set<String>, atLeast minimum: Int, topic: String = "payments.results", timeout: Duration = .seconds(30),
        on stage: Stage? = nil
    ) async throws -> [String: [JSONValue]] {
        try await messages(for: orderIDs, atLeast: minimum, topic: topic, timeout: timeout, on: stage).mapValues { $0.map(\.value) }
    }

    /// Like `results`, with each message's bytes as published beside its parsed value.
    func messages(
        for orderIDs: Set<String>, atLeast minimum: Int, topic: String = "payments.results", timeout: Duration = .seconds(30),
        on stage: Stage? = nil
    ) async throws -> [String: [(value: JSONValue, bytes: [UInt8])]] {
        let partitions = try await (stage?.producer ?? producer).partitionCount(topic: topic)
        let reader = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: stage?.brokers ?? brokers),
            readingFromBeginning: (0..<partitions).map { TopicPartition(topic: topic, partition: Int32($0)) }, logger: logger)
        var found: [String: [(value: JSONValue, bytes: [UInt8])]] = [:]
        func readOnce() async throws {
            for message in try await reader.poll(maxMessages: 1000, timeout: .milliseconds(200)) {
                guard let value = try? JSONParser.parse(message.value), case .string(let orderID)? = value["order_id"],
                    orderIDs.contains(orderID)
                else { continue }
                found[orderID, default: []].append((value, Array(message.value)))
            }
        }
        let deadline = ContinuousClock.now + timeout
        while found.count < minimum && ContinuousClock.now < deadline { try await readOnce() }
        // Read a little longer so duplicates published late are seen too.
        for _ in 0..<3 { try await readOnce() }
        await reader.close()
        return found
    }
}
