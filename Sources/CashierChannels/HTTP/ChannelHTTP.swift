public import AsyncHTTPClient
import CashierCore
import NIOCore
import NIOPosix

/// The HTTP client shared by the channel adapters: one connection pool per process, kept
/// alive between calls, with a pool large enough for the worker's concurrency. Each call's
/// deadline is set per exchange (`exchange(_:_:timeout:maxBody:)`), not here.
public enum ChannelHTTP {
    public static func makeClient(maxConnectionsPerHost: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnectionsPerHost)
        configuration.timeout.connect = .seconds(3)
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        // The channels' wire stays exactly the protocol: no trace headers to a payment provider
        // (the worker's own "channel call" span times the call).
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Whether a transport error happened before the request could have reached the channel,
    /// so that nothing can have been charged.
    static func failedBeforeSending(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError {
            // Both mean the request never got a connection of its own.
            return error == .connectTimeout || error == .getConnectionFromPoolTimeout
        }
        if error is NIOConnectionError { return true }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return true }
        return false
    }

    /// What a failed exchange means for the payment. Only an error that proves nothing was sent
    /// is retryable (`notSent`: no attempt); anything else (the deadline, a connection lost midway, a cut-off body) may
    /// have charged, so the outcome is unknown and the payment is looked up.
    /// - Parameter channel: how messages name the channel, e.g. `"card channel"`.
    static func transportOutcome(_ error: any Error, channel: String) -> ChannelOutcome {
        if failedBeforeSending(error) {
            return .notSent(Reason(code: "connection_failed", message: "\(channel) unreachable, nothing sent: \(error)"))
        }
        if isTimeout(error) {
            return .unknown(Reason(code: "timeout", message: "\(channel) gave no complete answer in time; the charge may have happened"))
        }
        if error is CancellationError || (error as? HTTPClientError) == .cancelled {
            return .unknown(Reason(code: "cancelled", message: "\(channel) call cancelled midway; the charge may have happened"))
        }
        return .unknown(Reason(code: "transport_error", message: "\(channel) call failed midway (\(error)); the charge may have happened"))
    }

    static func isTimeout(_ error: any Error) -> Bool {
        if let error = error as? ChannelHTTPError { return error.code == .deadlineExceeded }
        if let error = error as? HTTPClientError { return error == .deadlineExceeded || error == .readTimeout }
        return false
    }
}
