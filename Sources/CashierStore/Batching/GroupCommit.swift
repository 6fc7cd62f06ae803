import Synchronization

/// Group commit: many callers' writes of one kind made in one statement, so a commit (and a
/// round trip, a plan, a WAL flush) is shared by every order that finished close together.
///
/// A write goes out at once when a flush slot is free, so a lone order waits for nothing. While
/// every slot is busy, later writes gather and leave together as soon as one slot frees: the
/// batch grows exactly when the database is the bottleneck, and no write waits longer than one
/// statement before its own starts. Synchronous commit stays on: a caller resumes only after the
/// statement that carried its write has committed (or failed).
///
/// A batch that fails with an error that is not transient is halved until the bad row is alone,
/// so that row gets its own error and its neighbours are committed (`flushSplitting`). So is a
/// batch that waited too long for a row lock another session holds (`lock_timeout`): only the
/// held row's write fails (transiently, so its caller tries it again), and the rest go through,
/// instead of the whole batch failing on every try for as long as the lock is held.
final class GroupCommit<Item: Sendable, Output: Sendable>: Sendable {
    typealias Flush = @Sendable ([Item]) async throws(StoreError) -> [Output]

    private struct Waiter: Sendable {
        let item: Item
        let continuation: CheckedContinuation<Result<Output, StoreError>, Never>
    }

    private struct State: Sendable {
        var waiting: [Waiter] = []
        var flushing = 0

        mutating func take(_ limit: Int) -> [Waiter] {
            let count = min(limit, waiting.count)
            defer { waiting.removeFirst(count) }
            return Array(waiting.prefix(count))
        }
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let maxFlushes: Int
    private let flush: Flush

    /// - Parameters:
    ///   - maxBatch: the most writes one statement carries.
    ///   - maxFlushes: how many statements may be in flight at once (connections it may hold).
    ///   - flush: makes the writes, returning one output per item in order.
    init(maxBatch: Int, maxFlushes: Int, flush: @escaping Flush) {
        precondition(maxBatch >= 1 && maxFlushes >= 1)
        self.maxBatch = maxBatch
        self.maxFlushes = maxFlushes
        self.flush = flush
    }

    /// Makes `item`'s write together with whatever else is waiting, and returns its output once
    /// the statement that carried it has committed. The write is made even if the caller is
    /// cancelled meanwhile (it is bounded by the statement deadline), so its caller always
    /// learns whether it happened.
    func submit(_ item: Item) async throws(StoreError) -> Output {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Output, StoreError>, Never>) in
            let batch = state.withLock { state -> [Waiter]? in
                state.waiting.append(Waiter(item: item, continuation: continuation))
                guard state.flushing < maxFlushes else { return nil }
                state.flushing += 1
                return state.take(maxBatch)
            }
            if let batch { Task { await self.drain(starting: batch) } }
        }
        return try result.get()
    }

    /// Flushes `batch`, then whatever gathered meanwhile, until nothing waits.
    private func drain(starting batch: [Waiter]) async {
        var batch = batch
        while true {
            await flushSplitting(batch[...])
            let next = state.withLock { state -> [Waiter]? in
                guard !state.waiting.isEmpty else {
                    state.flushing -= 1
                    return nil
                }
                return state.take(maxBatch)
            }
            guard let next else { return }
            batch = next
        }
    }

    /// One statement for all of `items`. When it fails with an error that is not transient, or
    /// for a row lock held elsewhere, the batch is halved and each half tried again, down to the
    /// row that caused it: one bad row among n costs about 2·log2(n) statements, and only that
    /// row fails.
    /// Each part's callers resume as soon as their part is done, not when the whole split is.
    private func flushSplitting(_ waiters: ArraySlice<Waiter>) async {
        do {
            let outputs = try await flush(waiters.map(\.item))
            precondition(outputs.count == waiters.count, "a group commit returned \(outputs.count) outputs for \(waiters.count) writes")
            for (waiter, output) in zip(waiters, outputs) { waiter.continuation.resume(returning: .success(output)) }
        } catch {
            guard waiters.count > 1, !error.isRetryable || error.isLockContention else {
                for waiter in waiters { waiter.continuation.resume(returning: .failure(error)) }
                return
            }
            let middle = waiters.startIndex + waiters.count / 2
            await flushSplitting(waiters[..<middle])
            await flushSplitting(waiters[middle...])
        }
    }
}
