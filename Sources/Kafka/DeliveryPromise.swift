import Synchronization

/// A one-shot result completed from a C callback and awaited by one task.
final class DeliveryPromise: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<Result<Void, KafkaError>, Never>)
        case done(Result<Void, KafkaError>)
    }

    private let state = Mutex<State>(.pending)

    func complete(_ result: Result<Void, KafkaError>) {
        let waiter: CheckedContinuation<Result<Void, KafkaError>, Never>? = state.withLock { state in
            switch state {
            case .pending:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .done(result)
                return continuation
            case .done:
                preconditionFailure("a delivery report arrived twice")
            }
        }
        waiter?.resume(returning: result)
    }

    func value() async throws(KafkaError) {
        let result: Result<Void, KafkaError> = await withCheckedContinuation { continuation in
            let ready: Result<Void, KafkaError>? = state.withLock { state in
                switch state {
                case .pending:
                    state = .waiting(continuation)
                    return nil
                case .done(let result):
                    return result
                case .waiting:
                    preconditionFailure("a delivery is awaited once")
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
        try result.get()
    }
}
