public import AsyncHTTPClient
import NIOCore
import NIOPosix

/// The HTTP client shared by the channel adapters: one connection pool per process, kept
/// alive between calls, with a pool large enough for the worker's concurrency.
public enum ChannelHTTP {
    public static func makeClient(maxConnectionsPerHost: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnectionsPerHost)
        configuration.timeout.connect = .seconds(3)
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Whether a transport error happened before the request could have reached the channel,
    /// so that nothing can have been charged.
    static func failedBeforeSending(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError { return error == .connectTimeout }
        if error is NIOConnectionError { return true }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return true }
        return false
    }
}
