@testable import Kafka
import Testing

/// A delivery is awaited by one task, which may be cancelled before the report comes.
@Suite struct DeliveryPromiseTests {
    @Test func aReportBeforeOrAfterTheWaitIsReturned() async throws {
        let early = DeliveryPromise()
        early.complete(.success(DeliveryReport(partition: 1, offset: 7)))
        #expect(try await early.value() == DeliveryReport(partition: 1, offset: 7))

        let late = DeliveryPromise()
        let waiter = Task { try await late.value() }
        try await Task.sleep(for: .milliseconds(50))
        late.complete(.success(DeliveryReport(partition: 0, offset: 3)))
        #expect(try await waiter.value == DeliveryReport(partition: 0, offset: 3))
    }

    @Test func aCancelledWaitEndsAtOnceAndTheLateReportIsDropped() async throws {
        let promise = DeliveryPromise()
        let waiter = Task { try await promise.value() }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        let result = await waiter.result
        #expect(failureCode(result) == .cancelled)
        // librdkafka's report still comes (and releases its reference): it must not trap.
        promise.complete(.success(DeliveryReport(partition: 0, offset: 1)))
    }

    @Test func aWaitStartedCancelledEndsAtOnce() async {
        let promise = DeliveryPromise()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await promise.value()
        }
        let result = await waiter.result
        #expect(failureCode(result) == .cancelled, "\(result)")
        promise.complete(.failure(KafkaError(.delivery, "late")))
    }

    @Test func aReportThatCameBeforeTheCancellationWins() async throws {
        let promise = DeliveryPromise()
        promise.complete(.success(DeliveryReport(partition: 2, offset: 9)))
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await promise.value()
        }
        #expect(try await waiter.value == DeliveryReport(partition: 2, offset: 9))
    }
}

/// The code of a failed result's KafkaError; nil for a success or another error.
func failureCode<T>(_ result: Result<T, any Error>) -> KafkaError.Code? {
    guard case .failure(let error) = result else { return nil }
    return (error as? KafkaError)?.code
}
