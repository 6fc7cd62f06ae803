import Synchronization

/// A one-shot result completed from a C callback and awaited by one task.
///
/// The awaiting task may be cancelled: it then resumes at once with a `.cancelled` error, and
/// the delivery report, when librdkafka serves it, completes nothing (the record may still be
/// delivered; the caller only stopped waiting). librdkafka's reference to the promise is
/// released by that report either way, so a cancelled wait neither hangs nor leaks.
final class DeliveryPromise: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<Result<DeliveryReport, KafkaError>, Never>)
        case done(Result<DeliveryReport, KafkaError>)
        /// The awaiting task was cancelled before the report came.
        case abandoned
    }

    private let state = Mutex<State>(.pending)

    static let cancelled = KafkaError(.cancelled, "stopped waiting for the delivery report (task cancelled); the record may still be delivered")

    func complete(_ result: Result<DeliveryReport, KafkaError>) {
        let waiter: CheckedContinuation<Result<DeliveryReport, KafkaError>, Never>? = state.withLock { state in
            switch state {
            case .pending:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .done(result)
                return continuation
            case .abandoned:
                return nil
            case .done:
                preconditionFailure("a delivery report arrived twice")
            }
        }
        waiter?.resume(returning: result)
    }

    /// The delivery's result; `.cancelled` if the calling task is cancelled before it comes.
    func value() async throws(KafkaError) -> DeliveryReport {
        let result: Result<DeliveryReport, KafkaError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: Result<DeliveryReport, KafkaError>? = state.withLock { state in
                    switch state {
                    case .pending:
                        state = .waiting(continuation)
                        return nil
                    case .done(let result):
                        return result
                    case .abandoned:
                        return .failure(Self.cancelled)
                    case .waiting:
                        preconditionFailure("a delivery is awaited once")
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            abandon()
        }
        return try result.get()
    }

    /// Runs when the awaiting task is cancelled (before or while it waits).
    private func abandon() {
        let waiter: CheckedContinuation<Result<DeliveryReport, KafkaError>, Never>? = state.withLock { state in
            switch state {
            case .pending:
                state = .abandoned
                return nil
            case .waiting(let continuation):
                state = .abandoned
                return continuation
            case .done, .abandoned:
                return nil
            }
        }
        waiter?.resume(returning: .failure(Self.cancelled))
    }
}

/// Where the broker stored a record.
public struct DeliveryReport: Sendable, Equatable {
    public let partition: Int32
    public let offset: Int64
}
