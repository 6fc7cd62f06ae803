public import Logging
public import PostgresNIO
import CashierCore
import Synchronization

/// Every statement of the store goes through here: each call has a deadline, so none can
/// hang for ever on a database that went away, and every error comes out classified
/// (`StoreError.isRetryable`) with the SQLSTATE and server message, never the parameters.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// The longest one statement (or one transaction) may take.
    public let deadline: Duration

    public init(client: PostgresClient, logger: Logger, deadline: Duration = .seconds(15)) {
        self.client = client
        self.logger = logger
        self.deadline = deadline
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    public func rows(_ query: PostgresQuery) async throws(StoreError) -> [PostgresRow] {
        let client = self.client
        let logger = self.logger
        return try await Self.bounded(deadline) { try await client.query(query, logger: logger).collect() }
    }

    /// Runs `body` in one transaction, bounded as a whole.
    public func transaction<T: Sendable>(_ body: @Sendable @escaping (PostgresConnection) async throws -> T) async throws(StoreError) -> T {
        let client = self.client
        let logger = self.logger
        return try await Self.bounded(deadline) { try await client.withTransaction(logger: logger) { connection in try await body(connection) } }
    }

    /// Runs `operation` and returns its result, or fails with `.timeout` at the deadline even
    /// if the operation does not notice its cancellation (a socket to a vanished server).
    static func bounded<T: Sendable>(_ deadline: Duration, _ operation: @Sendable @escaping () async throws -> T) async throws(StoreError) -> T {
        let outcome: Result<T, StoreError> = await withCheckedContinuation { continuation in
            let race = Race(continuation)
            let work = Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(StoreError.classify(error))) }
            }
            race.arm(Deadlines.shared.schedule(after: deadline) {
                if race.finish(.failure(StoreError(.timeout, "database statement did not finish within \(deadline)"))) { work.cancel() }
            })
        }
        return try outcome.get()
    }
}

/// A continuation resumed by whichever comes first, the work or its timer; the work's
/// finishing stops the timer.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result<T, StoreError>, Never>?
        var timer: Deadlines.Token?
    }
    private let state: Mutex<State>

    init(_ continuation: CheckedContinuation<Result<T, StoreError>, Never>) { state = Mutex(State(continuation: continuation)) }

    func arm(_ timer: Deadlines.Token) {
        let finished = state.withLock { state -> Bool in
            guard state.continuation != nil else { return true }
            state.timer = timer
            return false
        }
        if finished { Deadlines.shared.cancel(timer) }
    }

    @discardableResult
    func finish(_ value: Result<T, StoreError>) -> Bool {
        let (continuation, timer) = state.withLock { state in
            defer { state = State() }
            return (state.continuation, state.timer)
        }
        guard let continuation else { return false }
        if let timer { Deadlines.shared.cancel(timer) }
        continuation.resume(returning: value)
        return true
    }
}
