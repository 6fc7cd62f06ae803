import Foundation

/// A Postgres cluster of one test's own (`scripts/throwaway-postgres.sh`), for tests that stop
/// and start the server: the shared cluster is never paused.
struct OwnPostgres: Sendable {
    let url: String
    private let directory: String

    private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/throwaway-postgres.sh").path

    /// Starts a fresh cluster; `name` marks its directory under /tmp.
    static func start(_ name: String) async throws -> OwnPostgres {
        let directory = try await Shell.run(["mktemp", "-d", "/tmp/cashier-\(name)-pg.XXXXXX"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let url = try await Shell.run([script, "start", directory]).trimmingCharacters(in: .whitespacesAndNewlines)
        return OwnPostgres(url: url, directory: directory)
    }

    /// Stops the server and keeps its data (an outage).
    func pause() async throws { try await Shell.run([Self.script, "pause", directory]) }

    /// Starts it again on the same port.
    func resume() async throws { try await Shell.run([Self.script, "resume", directory]) }

    /// Stops it and removes its data; for `defer` (the stop script is quick).
    func stop() { Shell.runNow([Self.script, "stop", directory]) }
}

extension Shell {
    /// For `defer`: runs without awaiting (the stop script is quick).
    static func runNow(_ arguments: [String]) {
        let command = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        _ = system("\(command) > /dev/null 2>&1")
    }
}
