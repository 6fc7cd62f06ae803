public import Kafka
import DequeModule

/// Which offsets may be committed: per partition, only the contiguous prefix of finished
/// records (DESIGN.md invariant 5). A record finished out of order waits for those before it.
///
/// A plain struct: the owner keeps it behind one lock and does the commits outside it.
///
/// Only partitions this consumer owns are tracked, and only records fetched under their current
/// assignment. Every rebalance has an increasing epoch (`RebalanceEvent.epoch`) and every record
/// carries the epoch current when librdkafka returned it (`KafkaMessage.rebalanceEpoch`): one
/// poll can return records fetched before a revocation that ran inside that same poll, and, if
/// the partition was assigned again in it, records of the old assignment. Such records are
/// refused, so they are never processed or committed under an assignment they do not belong to
/// (the owner of the partition reads them again from its committed offset).
///
/// Each assignment of a partition also gets a new generation, so work finished for an earlier
/// assignment (after the partition moved away and came back) can never advance the new one.
public struct OffsetTracker: Sendable {
    private struct Progress: Sendable {
        let generation: Int
        /// The rebalance epoch of this assignment: records fetched before it are not ours.
        let epoch: Int
        var pending = Deque<Int64>()
        var finished = Set<Int64>()
        var lastReceived: Int64 = -1
        /// The next offset to read once everything before it is finished.
        var committable: Int64? = nil
        var committed: Int64? = nil

        mutating func finish(_ offset: Int64) {
            finished.insert(offset)
            while let first = pending.first, finished.remove(first) != nil {
                pending.removeFirst()
                committable = first + 1
            }
        }
    }

    private var partitions: [TopicPartition: Progress] = [:]
    private var nextGeneration = 1

    public init() {}

    /// Starts tracking newly assigned partitions, as of the rebalance `epoch` that assigned them.
    public mutating func assign(_ assigned: [TopicPartition], epoch: Int) {
        for partition in assigned {
            partitions[partition] = Progress(generation: nextGeneration, epoch: epoch)
            nextGeneration += 1
        }
    }

    /// Stops tracking partitions and returns what may still be committed for them.
    public mutating func revoke(_ revoked: [TopicPartition]) -> [(TopicPartition, Int64)] {
        var result: [(TopicPartition, Int64)] = []
        for partition in revoked {
            if let progress = partitions.removeValue(forKey: partition), let offset = progress.committable,
                offset != progress.committed
            {
                result.append((partition, offset))
            }
        }
        return result
    }

    /// Notes a polled record, fetched under rebalance `epoch`; returns the generation to hand
    /// back on completion, or nil for a record that must not be processed: its partition is not
    /// assigned to this consumer, it was fetched before the partition's current assignment, or
    /// it was already seen.
    public mutating func received(_ partition: TopicPartition, offset: Int64, epoch: Int) -> Int? {
        // Read the scalars only: holding a copy of the progress would make the in-place
        // mutation below copy its buffers.
        guard case let (generation, assignedAt, lastReceived)? = partitions[partition].map({ ($0.generation, $0.epoch, $0.lastReceived) }),
            epoch >= assignedAt, offset > lastReceived
        else { return nil }
        partitions[partition]!.lastReceived = offset
        partitions[partition]!.pending.append(offset)
        return generation
    }

    /// Marks a record's outcome durable.
    public mutating func finished(_ partition: TopicPartition, offset: Int64, generation: Int) {
        guard partitions[partition]?.generation == generation else { return }
        partitions[partition]!.finish(offset)
    }

    /// Offsets that advanced since the last commit.
    public func committable() -> [(TopicPartition, Int64)] {
        partitions.compactMap { partition, progress in
            guard let offset = progress.committable, offset != progress.committed else { return nil }
            return (partition, offset)
        }
    }

    public mutating func committed(_ offsets: [(TopicPartition, Int64)]) {
        for (partition, offset) in offsets where partitions[partition] != nil {
            partitions[partition]!.committed = max(offset, partitions[partition]!.committed ?? offset)
        }
    }

    /// Records received but not yet finished, over all partitions.
    public var inFlight: Int { partitions.values.reduce(0) { $0 + $1.pending.count } }
}
