import Metrics
public import Prometheus

/// Metrics for the whole process: swift-metrics bootstrapped with a Prometheus registry, once.
public enum MetricsSetup {
    /// What `/metrics` renders.
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        ]
        MetricsSystem.bootstrap(factory)
    }()

    /// Safe to call from every command and test: only the first call bootstraps.
    public static func bootstrap() { _ = bootstrapped }
}
