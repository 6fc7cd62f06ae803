/// What `/readyz` checks: each a name and a check that throws (or returns false) when not ready.
public struct Readiness: Sendable {
    public typealias Check = @Sendable () async throws -> Bool

    public var checks: [(name: String, check: Check)] = []

    public init(checks: [(name: String, check: Check)] = []) {
        self.checks = checks
    }

    /// Runs every check with a time limit; (all ready, one line per check).
    public func evaluate() async -> (Bool, [String]) {
        var ready = true
        var lines: [String] = []
        for (name, check) in checks {
            let passed = await withTaskGroup(of: Bool?.self) { group -> Bool in
                group.addTask { (try? await check()) ?? false }
                group.addTask {
                    try? await Task.sleep(for: .seconds(2))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? false
            }
            ready = ready && passed
            lines.append("\(name): \(passed ? "ok" : "not ready")")
        }
        return (ready, lines)
    }
}
