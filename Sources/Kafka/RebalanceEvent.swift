/// A change of the partitions this consumer owns, reported on the poll thread while the
/// rebalance is in progress (so the owner can commit finished work before giving partitions up).
public enum RebalanceEvent: Sendable, Equatable {
    case assigned([TopicPartition])
    case revoked([TopicPartition])
    /// Partitions taken away without a chance to commit (session timed out): do not commit them.
    case lost([TopicPartition])
}

/// Decides what to commit when partitions go away. Returns `(partition, next offset)` pairs to
/// commit synchronously before the partitions are released; ignored for `.assigned`.
public typealias RebalanceHandler = @Sendable (RebalanceEvent) -> [(TopicPartition, Int64)]
