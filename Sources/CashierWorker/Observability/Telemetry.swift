import CashierCore
import Metrics
import Synchronization

/// Every metric Cashier exports, named once here (Prometheus names; the factory is chosen by
/// the process, `swift-prometheus` in the CLI).
enum Telemetry {
    static func ordersConsumed(topic: String) -> Counter {
        memo("cashier_orders_consumed_total", [("topic", topic)]) { Counter(label: $0, dimensions: $1) }
    }

    /// Every channel call, by its classified answer.
    static func channelCalls(_ channel: Channel, outcome: String) -> Counter {
        memo("cashier_channel_calls_total", [("channel", channel.rawValue), ("outcome", outcome)]) { Counter(label: $0, dimensions: $1) }
    }

    static func channelLatency(_ channel: Channel) -> Metrics.Timer {
        memo("cashier_channel_call_duration_seconds", [("channel", channel.rawValue)]) { Metrics.Timer(label: $0, dimensions: $1) }
    }

    /// Payments that reached a final state, by channel and state.
    static func payments(_ channel: Channel, status: String) -> Counter {
        memo("cashier_payments_total", [("channel", channel.rawValue), ("status", status)]) { Counter(label: $0, dimensions: $1) }
    }

    /// From the order event's Kafka timestamp to its outcome being durable.
    static let orderToResult = Metrics.Timer(label: "cashier_order_to_result_seconds")

    static func inFlight(_ pipeline: String) -> Gauge { memo("cashier_in_flight", [("pipeline", pipeline)]) { Gauge(label: $0, dimensions: $1) } }

    static func consumerLag(topic: String, partition: Int32) -> Gauge {
        memo("cashier_consumer_lag", [("topic", topic), ("partition", String(partition))]) { Gauge(label: $0, dimensions: $1) }
    }

    /// Retries started, by the number of the call they make.
    static func retries(attempt: Int) -> Counter {
        memo("cashier_retries_total", [("attempt", String(min(attempt, 20)))]) { Counter(label: $0, dimensions: $1) }
    }

    static func deadLetters(reason: String) -> Counter { memo("cashier_dead_letters_total", [("reason", reason)]) { Counter(label: $0, dimensions: $1) } }

    static let outboxBacklog = Gauge(label: "cashier_outbox_backlog")

    static func breakerOpen(_ channel: Channel) -> Gauge {
        memo("cashier_circuit_breaker_open", [("channel", channel.rawValue)]) { Gauge(label: $0, dimensions: $1) }
    }

    static func successRate(_ channel: Channel, window: String) -> Gauge {
        memo("cashier_channel_success_rate", [("channel", channel.rawValue), ("window", window)]) { Gauge(label: $0, dimensions: $1) }
    }

    static func failureRate(_ channel: Channel, window: String) -> Gauge {
        memo("cashier_channel_failure_rate", [("channel", channel.rawValue), ("window", window)]) { Gauge(label: $0, dimensions: $1) }
    }

    /// Metric handles are looked up once per label set and kept: building one per call costs a
    /// registry lookup under a lock on the hot path.
    private static let handles = Mutex<[String: AnyObject]>([:])

    private static func memo<Metric: AnyObject>(
        _ label: String, _ dimensions: [(String, String)], _ make: (String, [(String, String)]) -> Metric
    ) -> Metric {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return handles.withLock { handles in
            if let existing = handles[key] as? Metric { return existing }
            let created = make(label, dimensions)
            handles[key] = created
            return created
        }
    }
}
