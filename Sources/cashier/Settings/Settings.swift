import CashierCore
import CashierWorker

/// Every setting Cashier reads from flags, the environment or a config file, each declared
/// once (DESIGN.md section 4 lists the contract's names). Settings read by one command only are
/// here too: a config file may hold them, and `cashier config check` shows them all.
enum Settings {
    // MARK: Kafka
    static let kafkaBrokers = Setting<String>(
        "CASHIER_KAFKA_BROKERS", flag: "brokers", required: true, help: "Kafka bootstrap servers, HOST:PORT[,HOST:PORT…]")
    /// Comma-separated `k=v`; its secrets are the librdkafka properties `KafkaConfiguration.isSecret` names.
    static let kafkaOptions = Setting<String>(
        "CASHIER_KAFKA_OPTIONS", flag: "kafka-option", secret: true, help: "librdkafka property passed through, k=v; repeatable; the variable takes k=v,k=v")
    static let groupID = Setting<String>(
        "CASHIER_GROUP_ID", flag: "group-id", defaultText: "\(WorkerConfiguration().groupID) / \(RetryWorkerConfiguration().groupID)",
        help: "Consumer group; give each Deployment its own")
    static let topicOrders = Setting<String>("CASHIER_TOPIC_ORDERS", flag: "topic-orders", default: Topics().orders, help: "Orders topic")
    static let topicResults = Setting<String>("CASHIER_TOPIC_RESULTS", flag: "topic-results", default: Topics().results, help: "Results topic")
    static let topicRetry = Setting<String>("CASHIER_TOPIC_RETRY", flag: "topic-retry", default: Topics().retry, help: "Retry topic")
    static let topicDLQ = Setting<String>("CASHIER_TOPIC_DLQ", flag: "topic-dlq", default: Topics().dlq, help: "Dead-letter topic")

    // MARK: Postgres, processes, listeners, logs
    static let databaseURL = Setting<String>(
        "CASHIER_DATABASE_URL", flag: "database-url", required: true, secret: true,
        help: "postgres://user:pass@host:port/db[?sslmode=…]")
    static let concurrency = Setting<Int>(
        "CASHIER_CONCURRENCY", flag: "concurrency", default: WorkerConfiguration().concurrency, range: 1...4096,
        help: "Orders processed at once; never two of the same order")
    static let retryConcurrency = Setting<Int>(
        "CASHIER_RETRY_CONCURRENCY", flag: "concurrency", default: RetryWorkerConfiguration().concurrency, range: 1...4096,
        help: "Retries running at once in this process")
    static let httpPort = Setting<Int>(
        "CASHIER_HTTP_PORT", flag: "http-port", default: 8080, range: 0...65535, help: "Port of /healthz, /readyz and /metrics; 0 picks a free one")
    static let notifyPort = Setting<Int>("CASHIER_NOTIFY_PORT", flag: "port", default: 8081, range: 0...65535, help: "Port to listen on")
    static let notifyBaseURL = Setting<String>(
        "CASHIER_NOTIFY_BASE_URL", help: "Public base URL of `cashier notify-server` (WeChat Pay deductions need a notify URL)")
    static let logLevel = Setting<String>(
        "CASHIER_LOG_LEVEL", default: "info", choices: ["trace", "debug", "info", "notice", "warning", "error", "critical"], help: "Log level")
    static let logFormat = Setting<String>(
        "CASHIER_LOG_FORMAT", defaultText: "json off a terminal, text on one", choices: ["json", "text"], help: "Log line format")

    // MARK: Channels
    static let channelTimeout = Setting<Int>(
        "CASHIER_CHANNEL_TIMEOUT_MS", flag: "channel-timeout-ms", default: 10_000, range: 1...600_000,
        help: "Per-request channel timeout; a timeout is an unknown outcome")
    static let channelConcurrency = Setting<Int>(
        "CASHIER_CHANNEL_CONCURRENCY", defaultText: "the worker's concurrency", range: 1...4096, help: "Calls in flight per channel")
    static let breakerMinCalls = Setting<Int>(
        "CASHIER_BREAKER_MIN_CALLS", default: 20, range: 1...1_000_000, help: "Calls in 10 s before a channel's breaker may open")
    static let breakerMinCallsByChannel: [Channel: Setting<Int>] = Dictionary(
        uniqueKeysWithValues: Channel.allCases.map { channel in
            (channel, Setting<Int>(
                "CASHIER_BREAKER_MIN_CALLS_\(channel.rawValue.uppercased())", defaultText: "CASHIER_BREAKER_MIN_CALLS", range: 1...1_000_000,
                help: "CASHIER_BREAKER_MIN_CALLS for \(channel.rawValue)"))
        })
    static let breakerOpen = Setting<Int>("CASHIER_BREAKER_OPEN_MS", default: 30_000, range: 1...3_600_000, help: "How long an open breaker stays open")
    static let breakerMaxWait = Setting<Int>(
        "CASHIER_BREAKER_MAX_WAIT_MS", default: 60_000, range: 1...86_400_000,
        help: "How long an order waits for an open breaker before it goes on the retry schedule, uncalled")
    static let cardURL = Setting<String>("CASHIER_CARD_URL", help: "Card channel base URL")
    static let cardAPIKey = Setting<String>("CASHIER_CARD_API_KEY", secret: true, help: "Card channel secret key")
    static let alipayURL = Setting<String>("CASHIER_ALIPAY_URL", help: "Alipay gateway URL")
    static let alipayAppID = Setting<String>("CASHIER_ALIPAY_APP_ID", help: "Alipay app id")
    static let alipayPrivateKeyFile = Setting<String>("CASHIER_ALIPAY_PRIVATE_KEY_FILE", help: "The app's RSA private key (PEM)")
    static let alipayPublicKeyFile = Setting<String>("CASHIER_ALIPAY_PUBLIC_KEY_FILE", help: "Alipay's public key (PEM)")
    static let wechatURL = Setting<String>("CASHIER_WECHAT_URL", help: "WeChat Pay base URL")
    static let wechatMchID = Setting<String>("CASHIER_WECHAT_MCHID", help: "WeChat Pay merchant id")
    static let wechatAppID = Setting<String>("CASHIER_WECHAT_APPID", help: "WeChat Pay app id")
    static let wechatSerialNo = Setting<String>("CASHIER_WECHAT_SERIAL_NO", help: "Merchant certificate serial")
    static let wechatPrivateKeyFile = Setting<String>("CASHIER_WECHAT_PRIVATE_KEY_FILE", help: "Merchant private key (PEM)")
    static let wechatPlatformPublicKeyFile = Setting<String>("CASHIER_WECHAT_PLATFORM_PUBLIC_KEY_FILE", help: "Platform public key (PEM)")
    static let wechatPlatformSerial = Setting<String>("CASHIER_WECHAT_PLATFORM_SERIAL", help: "Platform public key id")
    static let wechatAPIv3Key = Setting<String>("CASHIER_WECHAT_APIV3_KEY", secret: true, help: "APIv3 key")

    // MARK: Retries and lookups
    static let retryBase = Setting<Int>(
        "CASHIER_RETRY_BASE_MS", flag: "retry-base-ms", default: 1000, range: 1...86_400_000, help: "First retry's upper wait bound")
    static let retryFactor = Setting<Double>("CASHIER_RETRY_FACTOR", flag: "retry-factor", default: 2, range: 1...100, help: "Growth per retry")
    static let retryMax = Setting<Int>(
        "CASHIER_RETRY_MAX_MS", flag: "retry-max-ms", default: 300_000, range: 1...86_400_000, help: "Largest wait bound")
    static let retryMaxAttempts = Setting<Int>(
        "CASHIER_RETRY_MAX_ATTEMPTS", flag: "retry-max-attempts", default: 8, range: 1...100, help: "Channel calls per order, the first included")
    static let unsentHorizon = Setting<Int>(
        "CASHIER_UNSENT_HORIZON_MS", default: 3_600_000, range: 1...(30 * 86_400_000),
        help: "How long a payment may wait without any call sent (channel unreachable, circuit open) before it ends")
    static let lookupBase = Setting<Int>("CASHIER_LOOKUP_BASE_MS", default: 200, range: 1...3_600_000, help: "First lookup's wait for an unknown outcome")
    static let lookupMax = Setting<Int>("CASHIER_LOOKUP_MAX_MS", default: 60_000, range: 1...86_400_000, help: "Largest wait between lookups")
    static let unknownHorizon = Setting<Int>(
        "CASHIER_UNKNOWN_HORIZON_MS", default: 86_400_000, range: 1...(30 * 86_400_000), help: "How long an outcome may stay unknown before a dead letter")
    static let lookupSettle = Setting<Int>(
        "CASHIER_LOOKUP_SETTLE_MS", defaultText: "twice the channel timeout", range: 0...86_400_000,
        help: "How long after a call a lookup's \"no charge\" is believed")
    static let lookupSearchLag = Setting<Int>(
        "CASHIER_LOOKUP_SEARCH_LAG_MS", default: 60_000, range: 0...3_600_000, help: "The same, for a charge found by a search that lags (card without an intent id)")
    static let lease = Setting<Int>("CASHIER_LEASE_MS", default: 30_000, range: 300...3_600_000, help: "How long a process's hold on a payment lasts unless renewed")
    static let sweep = Setting<Int>("CASHIER_SWEEP_MS", default: 5000, range: 100...600_000, help: "How often the retry worker sweeps for due payments")

    /// Every setting, in the order `cashier config check` lists them.
    static let all: [any AnySetting] =
        [
            kafkaBrokers, kafkaOptions, databaseURL, groupID, topicOrders, topicResults, topicRetry, topicDLQ, concurrency, retryConcurrency,
            httpPort, notifyPort, notifyBaseURL, logLevel, logFormat, channelTimeout, channelConcurrency, breakerMinCalls,
        ] + Channel.allCases.map { breakerMinCallsByChannel[$0]! as any AnySetting }
        + [
            breakerOpen, breakerMaxWait, retryBase, retryFactor, retryMax, retryMaxAttempts, unsentHorizon, lookupBase, lookupMax, unknownHorizon, lookupSettle,
            lookupSearchLag, lease, sweep, cardURL, cardAPIKey, alipayURL, alipayAppID, alipayPrivateKeyFile, alipayPublicKeyFile, wechatURL,
            wechatMchID, wechatAppID, wechatSerialNo, wechatPrivateKeyFile, wechatPlatformPublicKeyFile, wechatPlatformSerial, wechatAPIv3Key,
        ]

    /// What `ChannelSettings` reads.
    static let channels: [any AnySetting] = [
        cardURL, cardAPIKey, alipayURL, alipayAppID, alipayPrivateKeyFile, alipayPublicKeyFile, wechatURL, wechatMchID, wechatAppID,
        wechatSerialNo, wechatPrivateKeyFile, wechatPlatformPublicKeyFile, wechatPlatformSerial, wechatAPIv3Key, notifyBaseURL,
    ]

    static func named(_ name: String) -> (any AnySetting)? { all.first { $0.name == name } }
}
