import Foundation
import Synchronization

/// A dedicated thread that calls `body` in a loop until stopped (librdkafka's `rd_kafka_poll`
/// blocks for its timeout, which must not happen on the cooperative pool).
final class PollThread: Sendable {
    private final class State: Sendable {
        let running = Atomic<Bool>(true)
        let finished = DispatchSemaphore(value: 0)
    }

    private let state = State()

    init(name: String, body: @escaping @Sendable () -> Void) {
        let thread = Thread { [state] in
            while state.running.load(ordering: .relaxed) { body() }
            state.finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the loop and waits for the current iteration to end.
    func stop() {
        guard state.running.exchange(false, ordering: .relaxed) else { return }
        state.finished.wait()
    }
}
