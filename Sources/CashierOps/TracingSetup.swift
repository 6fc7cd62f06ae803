import CashierWorker
import Foundation
public import Logging
import OTel
public import ServiceLifecycle
import Synchronization

/// Traces go out over OTLP/HTTP (swift-otel) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; otherwise tracing stays off: the global
/// tracer remains swift-distributed-tracing's no-op one and no exporter runs.
///
/// swift-otel reads the rest of the standard variables itself (`OTEL_SERVICE_NAME`, default
/// `cashier`; `OTEL_EXPORTER_OTLP_PROTOCOL`, `http/protobuf` or `http/json`;
/// `OTEL_EXPORTER_OTLP_HEADERS`; `OTEL_BSP_*` for the batching; `OTEL_TRACES_SAMPLER`; …).
public enum TracingSetup {
    public static let endpointVariables = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]

    /// Whether this process exports traces.
    public static var isEnabled: Bool {
        let environment = ProcessInfo.processInfo.environment
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return false }
        return endpointVariables.contains { !(environment[$0] ?? "").isEmpty }
    }

    /// Bootstraps the global tracer once per process (`cashier dev` assembles twice over one
    /// process's services). Returns the exporter's service (batching span processor, OTLP/HTTP
    /// exporter) to run in the process's `ServiceGroup`, ahead of the services that make
    /// spans: it shuts down after them and sends their last spans. Nil when tracing is off.
    public static func bootstrap(logger: Logger) throws -> (any Service)? {
        guard isEnabled else { return nil }
        return try backend.withLock { backend in
            if let existing = backend { return existing }
            var configuration = OTel.Configuration.default
            configuration.serviceName = "cashier"
            configuration.diagnosticLogger = .custom(logger)
            configuration.metrics.enabled = false
            configuration.logs.enabled = false
            configuration.traces.exporter = .otlp
            let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
            Traces.bootstrap(tracer)
            backend = service
            logger.info("tracing on: spans exported over OTLP/HTTP")
            return service
        }
    }

    /// Runs `body` with the exporter running beside it (when tracing is on), then shuts the
    /// exporter down, which sends the spans still batched: for commands without a long-lived
    /// `ServiceGroup` (`cashier dlq replay`).
    public static func exporting<T: Sendable>(logger: Logger, _ body: @Sendable () async throws -> T) async throws -> T {
        guard let service = try bootstrap(logger: logger) else { return try await body() }
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    private static let backend = Mutex<(any Service)?>(nil)
}
