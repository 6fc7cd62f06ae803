import Foundation
public import Logging
import NIOSSL
public import PostgresNIO

/// Parses `postgres://user:pass@host:port/db[?sslmode=disable|prefer|require]`. Errors name
/// the part that is wrong and never repeat the password.
public enum DatabaseURL {
    enum TLSMode { case disable, prefer, require }

    struct Parts {
        var host: String
        var port: Int
        var user: String
        var password: String?
        var database: String
        var tls: TLSMode
    }

    /// The pool configuration for a URL.
    public static func configuration(_ text: String) throws(StoreError) -> PostgresClient.Configuration {
        let parts = try parse(text)
        let tls: PostgresClient.Configuration.TLS =
            switch parts.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: parts.host, port: parts.port, username: parts.user, password: parts.password, database: parts.database, tls: tls)
        configuration.options.maximumConnections = 40
        configuration.options.connectTimeout = .seconds(5)
        // The server gives up on a statement before `Database`'s 15 s client deadline does, so a
        // statement that timed out is known to have been rolled back (not left running with its
        // locks and connection while its callers retry), and a batch's rows can be retried.
        // A statement waits at most 4 s for a row lock another session holds (an operator's open
        // transaction, a stuck process): the group commit then splits its batch so the other
        // rows go through. A session of ours idle inside a transaction for a minute (a process
        // frozen mid-transaction) is ended by the server, releasing what it holds.
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "12s"), ("lock_timeout", "4s"), ("idle_in_transaction_session_timeout", "60s"),
        ]
        return configuration
    }

    /// Opens one connection outside any pool and closes it, so the first error (wrong password,
    /// unknown database, nothing listening) comes back at once instead of being retried.
    public static func probe(_ text: String, logger: Logger) async throws {
        let parts = try parse(text)
        let tls: PostgresConnection.Configuration.TLS =
            switch parts.tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        var configuration = PostgresConnection.Configuration(
            host: parts.host, port: parts.port, username: parts.user, password: parts.password, database: parts.database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        try await connection.close()
    }

    static func parse(_ text: String) throws(StoreError) -> Parts {
        func invalid(_ why: String) -> StoreError {
            StoreError(.invalidURL, "invalid database URL: \(why); expected postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=disable|prefer|require]")
        }
        guard let components = URLComponents(string: text) else { throw invalid("it is not a URL") }
        guard components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw invalid("the scheme must be postgres://, got \(components.scheme.map { "\($0)://" } ?? "none")")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("the host is missing") }
        guard let user = components.user, !user.isEmpty else { throw invalid("the user name is missing") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw invalid("port \(port) is out of range") }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !database.isEmpty else { throw invalid("the database name is missing") }
        var tls = TLSMode.disable
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"?): tls = .disable
            case ("sslmode", "prefer"?), ("sslmode", "allow"?): tls = .prefer
            case ("sslmode", "require"?), ("sslmode", "verify-full"?), ("sslmode", "verify-ca"?): tls = .require
            case ("sslmode", let other):
                throw invalid("sslmode \"\(other ?? "")\" is not one of disable, prefer, require, verify-full")
            case ("application_name", _):
                continue
            default:
                throw invalid("unknown parameter \"\(item.name)\"")
            }
        }
        return Parts(
            host: host, port: port, user: user.removingPercentEncoding ?? user, password: components.password?.removingPercentEncoding,
            database: database, tls: tls)
    }
}
