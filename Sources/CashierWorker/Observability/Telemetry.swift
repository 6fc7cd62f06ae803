import CashierCore
import Metrics

/// Every metric Cashier exports, named once here (Prometheus names; the factory is chosen by
/// the process, `swift-prometheus` in the CLI).
enum Telemetry {
    static func ordersConsumed(topic: String) -> Counter {
        Counter(label: "cashier_orders_consumed_total", dimensions: [("topic", topic)])
    }

    /// Every channel call, by its classified answer.
    static func channelCalls(_ channel: Channel, outcome: String) -> Counter {
        Counter(label: "cashier_channel_calls_total", dimensions: [("channel", channel.rawValue), ("outcome", outcome)])
    }

    static func channelLatency(_ channel: Channel) -> Metrics.Timer {
        Metrics.Timer(label: "cashier_channel_call_duration_seconds", dimensions: [("channel", channel.rawValue)])
    }

    /// Payments that reached a final state, by channel and state.
    static func payments(_ channel: Channel, status: String) -> Counter {
        Counter(label: "cashier_payments_total", dimensions: [("channel", channel.rawValue), ("status", status)])
    }

    /// From the order event's Kafka timestamp to its outcome being durable.
    static let orderToResult = Metrics.Timer(label: "cashier_order_to_result_seconds")

    static func inFlight(_ pipeline: String) -> Gauge { Gauge(label: "cashier_in_flight", dimensions: [("pipeline", pipeline)]) }

    static func consumerLag(topic: String, partition: Int32) -> Gauge {
        Gauge(label: "cashier_consumer_lag", dimensions: [("topic", topic), ("partition", String(partition))])
    }

    /// Retries started, by the number of the call they make.
    static func retries(attempt: Int) -> Counter {
        Counter(label: "cashier_retries_total", dimensions: [("attempt", String(min(attempt, 20)))])
    }

    static func deadLetters(reason: String) -> Counter { Counter(label: "cashier_dead_letters_total", dimensions: [("reason", reason)]) }

    static let outboxBacklog = Gauge(label: "cashier_outbox_backlog")

    static func breakerOpen(_ channel: Channel) -> Gauge {
        Gauge(label: "cashier_circuit_breaker_open", dimensions: [("channel", channel.rawValue)])
    }

    static func successRate(_ channel: Channel, window: String) -> Gauge {
        Gauge(label: "cashier_channel_success_rate", dimensions: [("channel", channel.rawValue), ("window", window)])
    }

    static func failureRate(_ channel: Channel, window: String) -> Gauge {
        Gauge(label: "cashier_channel_failure_rate", dimensions: [("channel", channel.rawValue), ("window", window)])
    }
}
