import Synchronization

/// A one-shot result completed from a C callback and awaited by one task.
final class DeliveryPromise: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<Result<DeliveryReport, KafkaError>, Never>)
        case done(Result<DeliveryReport, KafkaError>)
    }

    private let state = Mutex<State>(.pending)

    func complete(_ result: Result<DeliveryReport, KafkaError>) {
        let waiter: CheckedContinuation<Result<DeliveryReport, KafkaError>, Never>? = state.withLock { state in
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

    func value() async throws(KafkaError) -> DeliveryReport {
        let result: Result<DeliveryReport, KafkaError> = await withCheckedContinuation { continuation in
            let ready: Result<DeliveryReport, KafkaError>? = state.withLock { state in
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
        return try result.get()
    }
}

/// Where the broker stored a record.
public struct DeliveryReport: Sendable, Equatable {
    public let partition: Int32
    public let offset: Int64
}
