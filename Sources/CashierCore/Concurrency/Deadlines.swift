import Synchronization

/// The deadlines of many concurrent operations (database statements, channel calls), kept by
/// one sweeping task instead of a timer per operation: measured on the order worker, a timer
/// per statement and per call cost more CPU (dispatch timer set-up and tear-down) than the
/// statement itself. A deadline fires up to `resolution` late, which bounds nothing that matters.
public final class Deadlines: Sendable {
    public static let shared = Deadlines(resolution: .milliseconds(50))

    /// Names a scheduled expiry, to cancel it.
    public struct Token: Sendable, Hashable { fileprivate let id: UInt64 }

    private struct Entry { let at: ContinuousClock.Instant; let expire: @Sendable () -> Void }
    private struct State {
        var next: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        var sweeping = false
    }

    private let state = Mutex(State())
    private let resolution: Duration

    init(resolution: Duration) { self.resolution = resolution }

    /// Calls `expire` once, when `delay` has passed, unless the token is cancelled first.
    public func schedule(after delay: Duration, _ expire: @escaping @Sendable () -> Void) -> Token {
        let (token, start) = state.withLock { state -> (Token, Bool) in
            state.next += 1
            state.entries[state.next] = Entry(at: .now + delay, expire: expire)
            defer { state.sweeping = true }
            return (Token(id: state.next), !state.sweeping)
        }
        if start { Task.detached { await self.sweep() } }
        return token
    }

    public func cancel(_ token: Token) { _ = state.withLock { $0.entries.removeValue(forKey: token.id) } }

    /// Runs for the life of the process, waking every `resolution` while anything is scheduled.
    private func sweep() async {
        while true {
            try? await Task.sleep(for: resolution)
            let now = ContinuousClock.now
            let due = state.withLock { state -> [Entry] in
                let expired = state.entries.filter { $0.value.at <= now }
                for key in expired.keys { state.entries[key] = nil }
                return Array(expired.values)
            }
            for entry in due { entry.expire() }
        }
    }
}
