/// The group commits of one `PaymentStore`: new orders accepted together, outcomes settled
/// together. Their flushes capture the database and names only, never the store, so a store
/// made for one replay leaves nothing behind.
final class GroupCommits: Sendable {
    /// The most writes one statement carries, and how many such statements may run at once.
    /// One settle at a time cut Postgres's CPU per order by about a fifth (fewer, larger
    /// statements), but a settle can wait on a lock `SKIP LOCKED` does not skip (a table lock,
    /// a held `payment_attempts` or `outbox` row), and one slot would queue every settle of the
    /// pod behind it; so both kinds keep two.
    static let maxBatch = 128
    static let maxFlushes = 2

    let accepts: GroupCommit<AcceptWrite, Bool>
    let moves: GroupCommit<MoveWrite, MoveResult>

    init(database: Database, worker: String, leaseSeconds: Double) {
        accepts = GroupCommit(maxBatch: Self.maxBatch, maxFlushes: Self.maxFlushes) { writes throws(StoreError) in
            try await PaymentStore.acceptTogether(writes, database: database, worker: worker, leaseSeconds: leaseSeconds)
        }
        moves = GroupCommit(maxBatch: Self.maxBatch, maxFlushes: Self.maxFlushes) { writes throws(StoreError) in
            try await PaymentStore.moveTogether(writes, database: database)
        }
    }
}
