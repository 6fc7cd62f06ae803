import Foundation
import Testing

/// Bad flags, URLs and configuration get one clear line and a non-zero exit, before any work.
@Suite struct CommandLineTests {
    static let card = ["CASHIER_CARD_URL": "http://127.0.0.1:9", "CASHIER_CARD_API_KEY": "sk_test"]

    func expectOneLineError(_ arguments: [String], environment: [String: String] = [:], mentioning words: [String]) async throws {
        var env = ["CASHIER_DATABASE_URL": "", "CASHIER_KAFKA_BROKERS": "", "CASHIER_CARD_URL": "", "CASHIER_CARD_API_KEY": ""]
        for (key, value) in environment { env[key] = value }
        let (status, _, stderr) = try await CashierProcess.run(arguments, environment: env)
        #expect(status != 0)
        let lines = stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count == 1, "expected one line, got:\n\(stderr)")
        for word in words { #expect(stderr.contains(word), "\(stderr)") }
    }

    @Test func workerWithoutBrokersSaysWhatToSet() async throws {
        try await expectOneLineError(["worker", "--database-url", "postgres://u@localhost/db"], environment: Self.card, mentioning: ["CASHIER_KAFKA_BROKERS"])
    }

    @Test func malformedBrokerAddressIsNamed() async throws {
        try await expectOneLineError(["worker", "--brokers", "kafka-without-port"], environment: Self.card, mentioning: ["kafka-without-port", "HOST:PORT"])
    }

    @Test func invalidDatabaseURLIsExplained() async throws {
        try await expectOneLineError(
            ["worker", "--brokers", "localhost:9092", "--database-url", "mysql://x@y/z"], environment: Self.card, mentioning: ["postgres://"])
        try await expectOneLineError(
            ["worker", "--brokers", "localhost:9092", "--database-url", "postgres://user@host:5432/db?sslmode=maybe"], environment: Self.card,
            mentioning: ["sslmode"])
    }

    @Test func databasePasswordNeverAppearsInErrors() async throws {
        let (_, _, stderr) = try await CashierProcess.run(
            ["worker", "--brokers", "localhost:9092", "--database-url", "postgres://user:hunter2@host/db?bogus=1"], environment: Self.card)
        #expect(!stderr.contains("hunter2"))
    }

    @Test func badChannelURLAndMissingKeyAreNamed() async throws {
        let base = ["worker", "--brokers", "localhost:9092", "--database-url", "postgres://u@localhost/db"]
        try await expectOneLineError(base, environment: ["CASHIER_CARD_URL": "ftp://x", "CASHIER_CARD_API_KEY": "k"], mentioning: ["CASHIER_CARD_URL"])
        try await expectOneLineError(base, environment: ["CASHIER_CARD_URL": "http://127.0.0.1:1"], mentioning: ["CASHIER_CARD_API_KEY"])
        try await expectOneLineError(base, mentioning: ["CASHIER_CARD_URL"])
    }

    @Test func outOfRangeNumbersAreNamed() async throws {
        let base = ["worker", "--brokers", "localhost:9092", "--database-url", "postgres://u@localhost/db"]
        try await expectOneLineError(base + ["--channel-timeout-ms", "0"], environment: Self.card, mentioning: ["--channel-timeout-ms"])
        try await expectOneLineError(base + ["--concurrency", "0"], environment: Self.card, mentioning: ["--concurrency"])
        try await expectOneLineError(base, environment: Self.card.merging(["CASHIER_RETRY_FACTOR": "fast"]) { $1 }, mentioning: ["CASHIER_RETRY_FACTOR"])
        try await expectOneLineError(base + ["--kafka-option", "novalue"], environment: Self.card, mentioning: ["k=v"])
        try await expectOneLineError(["sandbox", "--decline-rate", "1.5"], mentioning: ["--decline-rate"])
        try await expectOneLineError(["publish", "--brokers", "localhost:9092", "--count", "0"], mentioning: ["--count"])
    }

    @Test func retryWorkerAndDeadLetterCommandsCheckTheirArguments() async throws {
        let database = ["--database-url", "postgres://u@localhost/db"]
        try await expectOneLineError(
            ["retry-worker", "--brokers", "localhost:9092"] + database + ["--retry-base-ms", "5000", "--retry-max-ms", "1000"],
            environment: Self.card, mentioning: ["CASHIER_RETRY_MAX_MS"])
        try await expectOneLineError(["dlq", "replay"] + database, environment: Self.card, mentioning: ["--id", "--order-id", "--all"])
        try await expectOneLineError(["dlq", "replay", "--all", "--id", "3"] + database, environment: Self.card, mentioning: ["exactly one"])
        try await expectOneLineError(["dlq", "replay", "--all", "--rate", "0"] + database, environment: Self.card, mentioning: ["--rate"])
        try await expectOneLineError(["dlq", "list", "--status", "gone"] + database, mentioning: ["--status gone"])
        try await expectOneLineError(["dlq", "list", "--channel", "paypal"] + database, mentioning: ["--channel paypal"])
        try await expectOneLineError(["dlq", "list"], mentioning: ["CASHIER_DATABASE_URL"])
    }

    @Test func aConfigFileIsCheckedAndItsSecretsMasked() async throws {
        let path = NSTemporaryDirectory() + "cashier-config-\(UUID().uuidString.prefix(8)).conf"
        try Data("""
            # a comment
            CASHIER_KAFKA_BROKERS=kafka-1:9092
            CASHIER_DATABASE_URL="postgres://cashier:hunter2@db:5432/cashier?sslmode=require"
            CASHIER_KAFKA_OPTIONS=security.protocol=SASL_SSL,sasl.password=swordfish
            CASHIER_CARD_URL=https://api.stripe.com
            CASHIER_CARD_API_KEY=sk_live_0123456789abcdef

            """.utf8).write(to: URL(fileURLWithPath: path))
        var environment = ["CASHIER_DATABASE_URL": "", "CASHIER_KAFKA_BROKERS": "", "CASHIER_CARD_URL": "", "CASHIER_CARD_API_KEY": "", "CASHIER_KAFKA_OPTIONS": ""]
        let (status, out, err) = try await CashierProcess.run(["config", "check", "--config", path], environment: environment)
        #expect(status == 0, "\(err)")
        #expect(out.contains("configuration OK") && out.contains("kafka-1:9092") && out.contains("SASL_SSL"))
        for secret in ["hunter2", "swordfish", "0123456789abcdef"] { #expect(!out.contains(secret) && !err.contains(secret), "\(secret) shown") }

        try Data("CASHIER_KAFKA_BROKERS=kafka-1:9092\nCASHIER_RETRY_MAX_ATTEMPTS=0\n".utf8).write(to: URL(fileURLWithPath: path))
        let (badStatus, _, badErr) = try await CashierProcess.run(["config", "check", "--config", path], environment: environment)
        #expect(badStatus != 0 && badErr.contains("CASHIER_RETRY_MAX_ATTEMPTS") && badErr.contains("CASHIER_DATABASE_URL"), "every problem listed: \(badErr)")

        try Data("CASHIER_BROKERS=kafka-1:9092\n".utf8).write(to: URL(fileURLWithPath: path))
        environment["CASHIER_CONFIG"] = path
        try await expectOneLineError(["worker"], environment: environment, mentioning: ["CASHIER_BROKERS", "not a Cashier setting"])
        try await expectOneLineError(["worker", "--config", "/nonexistent/cashier.conf"], mentioning: ["/nonexistent/cashier.conf"])
        try await expectOneLineError(
            ["worker", "--brokers", "k:9092", "--database-url", "postgres://u@h/d", "--http-port", "70000"], environment: Self.card, mentioning: ["--http-port"])
    }

    @Test func aTakenPortIsOneLineNamingThePortAndTheSetting() async throws {
        // Any listener holds the port: here a sandbox on a free one.
        let holder = try CashierProcess("port-holder", ["sandbox", "--port", "0"])
        let url = try await holder.value(after: "sandbox=")
        let port = String(url.split(separator: ":").last!)
        let connections = ["--brokers", "localhost:9092", "--database-url", "postgres://u@localhost/db"]
        for command in ["worker", "retry-worker"] {
            try await expectOneLineError(
                [command, "--http-port", port] + connections, environment: Self.card,
                mentioning: ["port \(port)", "already in use", "--http-port", "CASHIER_HTTP_PORT"])
            try await expectOneLineError(
                [command] + connections, environment: Self.card.merging(["CASHIER_HTTP_PORT": port]) { $1 },
                mentioning: ["port \(port)", "already in use", "--http-port", "CASHIER_HTTP_PORT"])
        }
        try await expectOneLineError(
            ["notify-server", "--port", port, "--database-url", "postgres://u@localhost/db"], environment: Self.card,
            mentioning: ["port \(port)", "already in use", "--port", "CASHIER_NOTIFY_PORT"])
        try await expectOneLineError(["sandbox", "--port", port], mentioning: ["port \(port)", "already in use", "--port"])
        try await expectOneLineError(
            ["dev", "--port", port, "--database-url", "postgres://u@localhost/db"], mentioning: ["port \(port)", "channel sandbox", "--port"])
        try await expectOneLineError(
            ["dev", "--port", "0", "--http-port", port, "--database-url", "postgres://u@localhost/db"],
            mentioning: ["port \(port)", "--http-port", "CASHIER_HTTP_PORT"])
        holder.signal(SIGTERM)
        _ = await holder.waitForExit(timeout: .seconds(10))
    }

    @Test func publishAndKafkaDevPrintNoLibrdkafkaConfigurationWarnings() async throws {
        let broker = try CashierProcess("kafka-dev-confwarn", ["kafka-dev", "--partitions", "1"])
        let brokers = try await broker.value(after: "bootstrap=")
        // Consumer properties (for the result collector) given to the whole command: its
        // producer must not be handed them.
        let (status, _, stderr) = try await CashierProcess.run([
            "publish", "--brokers", brokers, "--count", "3", "--kafka-option", "fetch.wait.max.ms=10",
            "--kafka-option", "session.timeout.ms=10000", "--kafka-option", "linger.ms=1",
        ])
        #expect(status == 0, "\(stderr)")
        #expect(!stderr.contains("CONFWARN"), "\(stderr)")
        broker.signal(SIGTERM)
        _ = await broker.waitForExit(timeout: .seconds(10))
        #expect(!broker.log.contains("CONFWARN"), "\(broker.log)")
    }

    /// The ServiceGroup's handlers are in place before `bootstrap=` is printed, so a stop sent
    /// as soon as the address is read is a clean exit, not the default action's 143 (or 130).
    @Test(arguments: [SIGTERM, SIGINT])
    func kafkaDevExitsZeroWhenSignalledAsSoonAsItAnnouncesItself(_ signal: Int32) async throws {
        let broker = try CashierProcess("kafka-dev-signal-\(signal)", ["kafka-dev", "--partitions", "1"])
        _ = try await broker.value(after: "bootstrap=")
        broker.signal(signal)
        #expect(await broker.waitForExit(timeout: .seconds(10)) == 0, "\(broker.log)")
    }

    static let refusedKafkaOptions = [
        ("enable.auto.commit", "true"), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "true"),
        ("enable.idempotence", "false"), ("acks", "1"), ("request.required.acks", "0"),
    ]

    @Test(arguments: refusedKafkaOptions)
    func kafkaOptionsThatCouldBreakAnInvariantAreRefused(_ key: String, _ value: String) async throws {
        let base = ["worker", "--brokers", "localhost:9092", "--database-url", "postgres://u@localhost/db"]
        try await expectOneLineError(base + ["--kafka-option", "\(key)=\(value)"], environment: Self.card, mentioning: [key, "refused", "remove it", "--kafka-option"])
        try await expectOneLineError(
            base, environment: Self.card.merging(["CASHIER_KAFKA_OPTIONS": "linger.ms=5,\(key)=\(value)"]) { $1 },
            mentioning: [key, "refused", "CASHIER_KAFKA_OPTIONS"])
        try await expectOneLineError(
            ["publish", "--brokers", "localhost:9092", "--count", "1", "--kafka-option", "\(key)=\(value)"], mentioning: [key, "refused"])
    }

    @Test func configCheckListsEveryRefusedKafkaOptionOnItsOwnLine() async throws {
        let path = NSTemporaryDirectory() + "cashier-config-\(UUID().uuidString.prefix(8)).conf"
        let options = Self.refusedKafkaOptions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        try Data("""
            CASHIER_KAFKA_BROKERS=kafka-1:9092
            CASHIER_DATABASE_URL=postgres://cashier@db:5432/cashier
            CASHIER_KAFKA_OPTIONS=security.protocol=SASL_SSL,\(options)
            CASHIER_CARD_URL=https://api.stripe.com
            CASHIER_CARD_API_KEY=sk_live_0123456789abcdef

            """.utf8).write(to: URL(fileURLWithPath: path))
        let environment = ["CASHIER_DATABASE_URL": "", "CASHIER_KAFKA_BROKERS": "", "CASHIER_CARD_URL": "", "CASHIER_CARD_API_KEY": "", "CASHIER_KAFKA_OPTIONS": ""]
        let (status, _, err) = try await CashierProcess.run(["config", "check", "--config", path], environment: environment)
        #expect(status != 0)
        let problems = err.split(separator: "\n").filter { $0.hasPrefix("problem: ") }
        #expect(problems.count == Self.refusedKafkaOptions.count, "\(err)")
        for (line, (key, _)) in zip(problems, Self.refusedKafkaOptions) {
            #expect(line.contains(key) && line.contains("refused") && line.contains(path), "\(line)")
        }
        // The same file makes every command refuse to start, in one line.
        try await expectOneLineError(["worker", "--config", path], mentioning: ["enable.auto.commit", "refused", "more Kafka setting problems"])
    }

    @Test func configCheckMasksEverySecretKafkaProperty() async throws {
        let secrets = [
            "sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config", "sasl.oauthbearer.assertion.private.key.passphrase",
        ]
        let options = secrets.enumerated().map { "\($0.element)=hidden\($0.offset)value" }.joined(separator: ",")
        let environment = [
            "CASHIER_KAFKA_BROKERS": "kafka-1:9092", "CASHIER_DATABASE_URL": "postgres://cashier@db:5432/cashier",
            "CASHIER_CARD_URL": "https://api.stripe.com", "CASHIER_CARD_API_KEY": "sk_live_0123456789abcdef",
            "CASHIER_KAFKA_OPTIONS": "security.protocol=SASL_SSL,\(options),sasl.mechanisms=PLAIN",
        ]
        let (status, out, err) = try await CashierProcess.run(["config", "check"], environment: environment)
        #expect(status == 0, "\(err)")
        #expect(out.contains("SASL_SSL") && out.contains("sasl.mechanisms=PLAIN"))
        for (index, name) in secrets.enumerated() {
            #expect(out.contains("\(name)=***"), "\(name) not shown masked")
            #expect(!out.contains("hidden\(index)value") && !err.contains("hidden\(index)value"), "\(name)'s value shown")
        }
    }

    /// The `config check` row of `name`: its value and where it came from.
    func row(_ out: String, _ name: String) -> (value: String, source: String)? {
        guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }) else { return nil }
        let columns = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        return (columns.dropFirst().dropLast().joined(separator: " "), columns.last ?? "")
    }

    @Test func configCheckShowsEverySettingWithItsSourceInPrecedenceOrder() async throws {
        let path = NSTemporaryDirectory() + "cashier-config-\(UUID().uuidString.prefix(8)).conf"
        try Data("""
            CASHIER_KAFKA_BROKERS=kafka-file:9092
            CASHIER_TOPIC_ORDERS=orders.from-file
            CASHIER_HTTP_PORT=9001
            CASHIER_LEASE_MS=60000
            CASHIER_DATABASE_URL=postgres://cashier:hunter2@db:5432/cashier

            """.utf8).write(to: URL(fileURLWithPath: path))
        let environment = [
            "CASHIER_KAFKA_BROKERS": "kafka-env:9092", "CASHIER_TOPIC_ORDERS": "", "CASHIER_DATABASE_URL": "", "CASHIER_HTTP_PORT": "",
            "CASHIER_CARD_URL": "https://api.stripe.com", "CASHIER_CARD_API_KEY": "sk_live_0123456789abcdef", "CASHIER_KAFKA_OPTIONS": "",
            "CASHIER_LEASE_MS": "", "CASHIER_RETRY_FACTOR": "",
        ]
        let (status, out, err) = try await CashierProcess.run(["config", "check", "--config", path], environment: environment)
        #expect(status == 0, "\(err)")
        #expect(row(out, "CASHIER_KAFKA_BROKERS")! == ("kafka-env:9092", "environment"), "the environment wins over the file")
        #expect(row(out, "CASHIER_TOPIC_ORDERS")! == ("orders.from-file", "file"), "an empty variable is unset")
        #expect(row(out, "CASHIER_HTTP_PORT")! == ("9001", "file"))
        #expect(row(out, "CASHIER_LEASE_MS")! == ("60000", "file"))
        #expect(row(out, "CASHIER_RETRY_FACTOR")! == ("2.0", "default") || row(out, "CASHIER_RETRY_FACTOR")! == ("2", "default"))
        #expect(row(out, "CASHIER_CARD_API_KEY")!.value == "sk_l…***")
        #expect(row(out, "CASHIER_DATABASE_URL")!.value == "postgres://cashier:***@db:5432/cashier")
        #expect(!out.contains("hunter2") && !out.contains("0123456789abcdef"))
        for name in ["CASHIER_SWEEP_MS", "CASHIER_LOOKUP_SETTLE_MS", "CASHIER_BREAKER_MIN_CALLS_WECHAT", "CASHIER_WECHAT_APIV3_KEY"] {
            #expect(row(out, name) != nil, "\(name) listed")
        }

        // The flag wins over both: its value is used even where the environment's is bad.
        try await expectOneLineError(
            ["worker", "--config", path, "--concurrency", "5"], environment: environment.merging(["CASHIER_CONCURRENCY": "0", "CASHIER_RETRY_BASE_MS": "x"]) { $1 },
            mentioning: ["CASHIER_RETRY_BASE_MS"])
    }

    @Test func configCheckPutsEachBadValueAndUnknownNameOnItsOwnLine() async throws {
        let path = NSTemporaryDirectory() + "cashier-config-\(UUID().uuidString.prefix(8)).conf"
        try Data("""
            CASHIER_KAFKA_BROKERS=kafka-1:9092
            CASHIER_DATABASE_URL=postgres://cashier@db:5432/cashier
            CASHIER_CARD_URL=https://api.stripe.com
            CASHIER_CARD_API_KEY=sk_live_0123456789abcdef
            CASHIER_LEASE_MS=1
            CASHIER_LOG_LEVEL=loud
            CASHIER_SWEEP_MS=often
            CASHIER_BROKERS=kafka-1:9092
            CASHIER_TOPIC_RESULT=results
            not a setting

            """.utf8).write(to: URL(fileURLWithPath: path))
        let environment = [
            "CASHIER_DATABASE_URL": "", "CASHIER_KAFKA_BROKERS": "", "CASHIER_CARD_URL": "", "CASHIER_CARD_API_KEY": "", "CASHIER_KAFKA_OPTIONS": "",
            "CASHIER_LEASE_MS": "", "CASHIER_LOG_LEVEL": "", "CASHIER_SWEEP_MS": "", "CASHIER_RETRY_FACTOR": "fast",
        ]
        let (status, _, err) = try await CashierProcess.run(["config", "check", "--config", path], environment: environment)
        #expect(status != 0)
        let problems = err.split(separator: "\n").filter { $0.hasPrefix("problem: ") }
        let expected: [[String]] = [
            ["CASHIER_LEASE_MS=\"1\"", path, "300...3600000"], ["CASHIER_LOG_LEVEL=\"loud\"", path, "debug"], ["CASHIER_SWEEP_MS=\"often\"", path],
            ["CASHIER_BROKERS", "line 8", "not a Cashier setting"], ["CASHIER_TOPIC_RESULT", "line 9", "not a Cashier setting"],
            ["line 10", "NAME=value"], ["CASHIER_RETRY_FACTOR=\"fast\"", "fix or unset it"],
        ]
        #expect(problems.count == expected.count, "\(err)")
        for words in expected {
            #expect(problems.filter { line in words.allSatisfy { line.contains($0) } }.count == 1, "\(words) once in:\n\(err)")
        }
        // Any other command: the first problem, in one line.
        try await expectOneLineError(["worker", "--config", path], mentioning: ["CASHIER_BROKERS", "and 2 more"])
    }

    @Test func secretKafkaPropertiesAreMaskedByOneRuleInConfigCheck() async throws {
        // Names the list does not hold, secret by the rule's words and suffixes.
        let names = ["sasl.oauthbearer.client.private.key", "ssl.engine.key.pem", "example.client.secret.value", "custom.passphrase"]
        let options = names.enumerated().map { "\($0.element)=hidden\($0.offset)value" }.joined(separator: ",")
        let environment = [
            "CASHIER_KAFKA_BROKERS": "kafka-1:9092", "CASHIER_DATABASE_URL": "postgres://cashier@db:5432/cashier",
            "CASHIER_CARD_URL": "https://api.stripe.com", "CASHIER_CARD_API_KEY": "sk_live_0123456789abcdef",
            "CASHIER_KAFKA_OPTIONS": "security.protocol=SASL_SSL,\(options)",
        ]
        let (_, out, err) = try await CashierProcess.run(["config", "check"], environment: environment)
        for (index, name) in names.enumerated() {
            #expect(out.contains("\(name)=***"), "\(name) not shown masked: \(out)")
            #expect(!out.contains("hidden\(index)value") && !err.contains("hidden\(index)value"), "\(name)'s value shown")
        }
    }

    @Test(.enabled(if: Pipeline.isAvailable)) func workerRefusesAnUnmigratedDatabase() async throws {
        let pipeline = try await Pipeline.shared()
        let name = "cashier_unmigrated_\(pipeline.runID)"
        try await pipeline.db.query("CREATE DATABASE \(unescaped: name)", logger: pipeline.logger)
        var components = URLComponents(string: Pipeline.databaseURL!)!
        components.path = "/" + name
        let url = components.string!
        try await expectOneLineError(
            ["worker", "--brokers", pipeline.brokers, "--database-url", url], environment: Self.card, mentioning: ["cashier migrate"])
    }

    @Test func migrateIsSafeToRunConcurrently() async throws {
        guard let url = Pipeline.databaseURL else { return }
        async let first = CashierProcess.run(["migrate", "--database-url", url])
        async let second = CashierProcess.run(["migrate", "--database-url", url])
        let results = try await [first, second]
        #expect(results.allSatisfy { $0.0 == 0 })
    }
}
