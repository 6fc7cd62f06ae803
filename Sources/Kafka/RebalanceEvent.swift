/// A change of the partitions this consumer owns, reported on the poll thread while the
/// rebalance is in progress (so the owner can commit finished work before giving partitions up).
///
/// Every rebalance callback gets the next `epoch` of its consumer (1, 2, …), and every record the
/// consumer returns carries the epoch current when librdkafka handed it over
/// (`KafkaMessage.rebalanceEpoch`). A record whose epoch is older than the assignment of its
/// partition was fetched under an earlier assignment; one whose partition is not assigned any
/// more was fetched before a revocation. Both can come out of the same poll that ran the
/// rebalance, and must be neither processed nor committed as the current owner's.
public enum RebalanceEvent: Sendable, Equatable {
    case assigned([TopicPartition], epoch: Int)
    case revoked([TopicPartition], epoch: Int)
    /// Partitions taken away without a chance to commit (session timed out, or a rebalance
    /// error made the consumer drop its assignment): do not commit them.
    case lost([TopicPartition], epoch: Int)

    /// The partitions that changed hands.
    public var partitions: [TopicPartition] {
        switch self {
        case .assigned(let partitions, _), .revoked(let partitions, _), .lost(let partitions, _): partitions
        }
    }

    /// The rebalance's place in this consumer's sequence of rebalances.
    public var epoch: Int {
        switch self {
        case .assigned(_, let epoch), .revoked(_, let epoch), .lost(_, let epoch): epoch
        }
    }
}

/// Decides what to commit when partitions go away. Returns `(partition, next offset)` pairs to
/// commit synchronously before the partitions are released; ignored for `.assigned` and `.lost`.
public typealias RebalanceHandler = @Sendable (RebalanceEvent) -> [(TopicPartition, Int64)]
