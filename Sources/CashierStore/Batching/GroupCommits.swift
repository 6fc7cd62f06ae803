/// The group commits of one `PaymentStore`: new orders accepted together, outcomes settled
/// together. Their flushes capture the database and names only, never the store, so a store
/// made for one replay leaves nothing behind.
final class GroupCommits: Sendable {
    /// The most writes one statement carries.
    static let maxBatch = 128
    /// How many accept statements may run at once: two, so that one waiting out a row lock
    /// (another pod inserting the same order id) does not hold every new order behind it.
    static let maxAcceptFlushes = 2
    /// Settles too have two slots. One slot cut Postgres's CPU per order by about a fifth
    /// (fewer, larger statements), but a review (helper-45) found that a settle can still wait
    /// on a lock `SKIP LOCKED` does not skip (a table lock, a held `payment_attempts` or
    /// `outbox` row), and with one slot every settle of the pod would queue behind it.
    static let maxMoveFlushes = 2

    let accepts: GroupCommit<AcceptWrite, Bool>
    let moves: GroupCommit<MoveWrite, MoveResult>

    init(database: Database, worker: String, leaseSeconds: Double) {
        accepts = GroupCommit(maxBatch: Self.maxBatch, maxFlushes: Self.maxAcceptFlushes) { writes throws(StoreError) in
            try await PaymentStore.acceptTogether(writes, database: database, worker: worker, leaseSeconds: leaseSeconds)
        }
        moves = GroupCommit(maxBatch: Self.maxBatch, maxFlushes: Self.maxMoveFlushes) { writes throws(StoreError) in
            try await PaymentStore.moveTogether(writes, database: database)
        }
    }
}
