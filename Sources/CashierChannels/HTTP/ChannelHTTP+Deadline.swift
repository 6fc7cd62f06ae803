import CashierCore
import Synchronization

extension ChannelHTTP {
    /// How long an operation cancelled at its deadline may still take to end with its own error
    /// before the deadline error is returned instead. The HTTP client's own error can prove that
    /// nothing was sent (a refused connection, no connection from the pool), which makes the
    /// call retryable instead of unknown; an operation that does not end in this time is left.
    static let cancellationGrace: Duration = .milliseconds(100)

    /// Runs `operation` in a task of its own and returns its result, bounded by `timeout`.
    ///
    /// At the deadline the operation is cancelled; if it has not ended within `grace`, this
    /// throws `ChannelHTTPError.deadlineExceeded` *without waiting for it*, so a client that does
    /// not honour cancellation promptly cannot hold the caller past its deadline. Such an
    /// operation finishes in the background and its result is dropped. Cancelling the caller
    /// cancels the operation and throws `CancellationError` at once.
    static func withDeadline<Value: Sendable>(
        _ timeout: Duration, grace: Duration = cancellationGrace, _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let race = DeadlineRace<Value>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let work = Task {
                    do {
                        race.finish(.success(try await operation()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
                // One shared sweeper keeps the deadline (a timer per call costs more than the call).
                race.timer.set(Deadlines.shared.schedule(after: timeout) {
                    work.cancel()
                    race.timer.set(Deadlines.shared.schedule(after: grace) {
                        race.finish(.failure(ChannelHTTPError.deadlineExceeded(after: timeout)))
                    })
                })
                race.start(continuation, tasks: [work])
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// The first of an operation's result, its deadline and the caller's cancellation wins; the
/// others are dropped. A plain state machine behind one lock; resuming and cancelling happen
/// outside it.
private final class DeadlineRace<Value: Sendable>: Sendable {
    private struct State {
        enum Phase {
            /// The continuation is not installed yet; a result may already have arrived.
            case starting(early: Result<Value, any Error>?)
            case running(CheckedContinuation<Value, any Error>, tasks: [Task<Void, Never>])
            case finished
        }

        enum Action {
            case none
            case resume(CheckedContinuation<Value, any Error>, Result<Value, any Error>, cancel: [Task<Void, Never>])
        }

        var phase = Phase.starting(early: nil)

        mutating func start(_ continuation: CheckedContinuation<Value, any Error>, tasks: [Task<Void, Never>]) -> Action {
            switch phase {
            case .starting(early: let result?):
                phase = .finished
                return .resume(continuation, result, cancel: tasks)
            case .starting(early: nil):
                phase = .running(continuation, tasks: tasks)
                return .none
            case .running, .finished:
                preconditionFailure("a deadline race is started once")
            }
        }

        mutating func finish(_ result: Result<Value, any Error>) -> Action {
            switch phase {
            case .starting(early: nil):
                phase = .starting(early: result)
                return .none
            case .running(let continuation, let tasks):
                phase = .finished
                return .resume(continuation, result, cancel: tasks)
            case .starting(early: .some), .finished:
                return .none
            }
        }
    }

    private let state = Mutex(State())
    /// The deadline's scheduled expiry, cancelled when the race ends.
    let timer = DeadlineTimer()

    func start(_ continuation: CheckedContinuation<Value, any Error>, tasks: [Task<Void, Never>]) {
        run(state.withLock { $0.start(continuation, tasks: tasks) })
    }

    func finish(_ result: Result<Value, any Error>) {
        run(state.withLock { $0.finish(result) })
    }

    private func run(_ action: State.Action) {
        guard case .resume(let continuation, let result, let tasks) = action else { return }
        timer.cancel()
        for task in tasks { task.cancel() }
        continuation.resume(with: result)
    }
}

/// The current expiry of a deadline that may be rescheduled (the grace after the deadline).
final class DeadlineTimer: Sendable {
    private let token = Mutex<(token: Deadlines.Token?, cancelled: Bool)>((nil, false))

    func set(_ next: Deadlines.Token) {
        let cancelNow = token.withLock { state -> Bool in
            if state.cancelled { return true }
            state.token = next
            return false
        }
        if cancelNow { Deadlines.shared.cancel(next) }
    }

    func cancel() {
        let current = token.withLock { state -> Deadlines.Token? in
            state.cancelled = true
            defer { state.token = nil }
            return state.token
        }
        if let current { Deadlines.shared.cancel(current) }
    }
}
