import Foundation
public import PostgresNIO

/// Parses `postgres://user:pass@host:port/db[?sslmode=disable|prefer|require]` into a client
/// configuration. Errors name the part that is wrong and never repeat the password.
public enum DatabaseURL {
    public static func configuration(_ text: String) throws(StoreError) -> PostgresClient.Configuration {
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
        var tls: PostgresClient.Configuration.TLS = .disable
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"?): tls = .disable
            case ("sslmode", "prefer"?), ("sslmode", "allow"?): tls = .prefer(.makeClientConfiguration())
            case ("sslmode", "require"?), ("sslmode", "verify-full"?), ("sslmode", "verify-ca"?):
                tls = .require(.makeClientConfiguration())
            case ("sslmode", let other):
                throw invalid("sslmode \"\(other ?? "")\" is not one of disable, prefer, require, verify-full")
            case ("application_name", _):
                continue
            default:
                throw invalid("unknown parameter \"\(item.name)\"")
            }
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding, database: database, tls: tls)
        configuration.options.maximumConnections = 40
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// The URL with its password replaced, for logs and `config check`.
    public static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "*****"
        return components.string ?? "(unprintable URL)"
    }
}
