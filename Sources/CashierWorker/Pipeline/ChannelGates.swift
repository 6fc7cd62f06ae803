import CashierCore
import DequeModule
import Synchronization

/// Backpressure per channel in the order worker (DESIGN.md invariant 7). A record whose
/// channel already has its limit of orders running waits here, polled but not started, while
/// records of other channels go on; when a channel's order finishes, the next waiting record of
/// that channel takes its turn. The waiting room is bounded: when it is full the dispatcher
/// stops polling, so a saturated channel slows the intake instead of failing orders.
final class ChannelGates: Sendable {
    private struct State {
        var running: [Channel: Int] = [:]
        var waiting: [Channel: Deque<WorkItem>] = [:]
        var closed = false
    }

    private let limits: [Channel: Int]
    private let state = Mutex(State())

    init(limits: [Channel: Int]) { self.limits = limits }

    /// True when `item` may start now; false when it waits for its channel.
    func enter(_ item: WorkItem, channel: Channel) -> Bool {
        state.withLock { state in
            let running = state.running[channel, default: 0]
            if running < limits[channel, default: .max] && (state.waiting[channel]?.isEmpty ?? true) {
                state.running[channel] = running + 1
                return true
            }
            state.waiting[channel, default: []].append(item)
            return false
        }
    }

    /// An order of `channel` finished: the next waiting one, which takes over its turn, or nil.
    func leave(_ channel: Channel) -> WorkItem? {
        state.withLock { state in
            if !state.closed, let next = state.waiting[channel]?.popFirst() { return next }
            state.running[channel, default: 1] -= 1
            return nil
        }
    }

    /// Stops starting waiting records (shutdown): they stay uncommitted for the next owner.
    func close() { state.withLock { $0.closed = true } }
}
