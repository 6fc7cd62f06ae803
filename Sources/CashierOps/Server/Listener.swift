import Foundation
import NIOCore
import NIOPosix
public import ServiceLifecycle

/// An address a command listens on, and the setting that changes it, so that a port already
/// taken (a second worker on one host) is one line naming the port and the fix instead of
/// `bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`.
public struct Listener: Sendable {
    public let host: String
    public let port: Int
    /// What listens there, e.g. "the /healthz, /readyz and /metrics listener".
    public let purpose: String
    /// The flag (and variable) that choose the port, e.g. "--http-port or CASHIER_HTTP_PORT".
    public let setting: String

    /// The operations listener of `worker`, `retry-worker` and `dev`.
    public static func ops(host: String, port: Int) -> Listener {
        Listener(host: host, port: port, purpose: "the /healthz, /readyz and /metrics listener", setting: "--http-port or CASHIER_HTTP_PORT")
    }

    /// `cashier notify-server`'s listener.
    public static func notifications(host: String, port: Int) -> Listener {
        Listener(host: host, port: port, purpose: "the payment notification listener", setting: "--port or CASHIER_NOTIFY_PORT")
    }

    /// The channel sandbox of `sandbox` and `dev`.
    public static func sandbox(host: String, port: Int) -> Listener {
        Listener(host: host, port: port, purpose: "the channel sandbox", setting: "--port")
    }

    /// Binds the address once and lets it go: a taken port stops the command before it
    /// connects to anything. (Port 0 is always free.) The server's own bind is checked too, by
    /// `service(_:)`, for a port taken in between.
    public func ensureAvailable() async throws {
        guard port != 0 else { return }
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            try await channel.close()
        } catch {
            throw explained(error)
        }
    }

    /// The error of a failed bind as one line naming the port and the setting; other errors
    /// unchanged.
    public func explained(_ error: any Error) -> any Error {
        guard let error = error as? IOError else { return error }
        switch error.errnoCode {
        case EADDRINUSE:
            return ListenerError("port \(port) on \(host) is already in use (\(purpose)), perhaps by another cashier on this host; choose another with \(setting) (0 picks a free one)")
        case EACCES:
            return ListenerError("port \(port) on \(host) needs privileges this process lacks (\(purpose)); choose a port above 1023 with \(setting)")
        case EADDRNOTAVAIL:
            return ListenerError("address \(host) is not one of this host's (\(purpose)); listen on 0.0.0.0 or a local address")
        default:
            return error
        }
    }

    /// `server` as a service whose bind failure is `explained`.
    public func service(_ server: some Service) -> some Service {
        ExplainedService(server: server, listener: self)
    }

    /// Runs `body` (a server that binds this address), its bind failure `explained`.
    public func explaining<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw explained(error)
        }
    }
}

/// A listener that cannot listen: one line naming the port and the setting that changes it,
/// printed by the CLI as `Error: …`.
public struct ListenerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

private struct ExplainedService<Server: Service>: Service {
    let server: Server
    let listener: Listener

    func run() async throws { try await listener.explaining { try await server.run() } }
}
