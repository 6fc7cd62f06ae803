public import Kafka
import DequeModule

/// Which offsets may be committed: per partition, only the contiguous prefix of finished
/// records (DESIGN.md invariant 5). A record finished out of order waits for those before it.
///
/// A plain struct: the owner keeps it behind one lock and does the commits outside it.
/// Each assignment of a partition gets a new generation, so work finished for an earlier
/// assignment (after the partition moved away and came back) can never advance the new one.
public struct OffsetTracker: Sendable {
    private struct Progress: Sendable {
        let generation: Int
        var pending = Deque<Int64>()
        var finished = Set<Int64>()
        var lastReceived: Int64 = -1
        /// The next offset to read once everything before it is finished.
        var committable: Int64? = nil
        var committed: Int64? = nil
    }

    private var partitions: [TopicPartition: Progress] = [:]
    private var nextGeneration = 1

    public init() {}

    /// Starts tracking newly assigned partitions.
    public mutating func assign(_ assigned: [TopicPartition]) {
        for partition in assigned {
            partitions[partition] = Progress(generation: nextGeneration)
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

    /// Notes a polled record; returns the generation to hand back on completion, or nil for a
    /// record that must not be processed (unassigned partition, or already seen).
    public mutating func received(_ partition: TopicPartition, offset: Int64) -> Int? {
        if partitions[partition] == nil {
            // librdkafka may deliver before our assign callback ran (eager protocol): track it.
            assign([partition])
        }
        guard offset > partitions[partition]!.lastReceived else { return nil }
        partitions[partition]!.lastReceived = offset
        partitions[partition]!.pending.append(offset)
        return partitions[partition]!.generation
    }

    /// Marks a record's outcome durable.
    public mutating func finished(_ partition: TopicPartition, offset: Int64, generation: Int) {
        guard var progress = partitions[partition], progress.generation == generation else { return }
        progress.finished.insert(offset)
        while let first = progress.pending.first, progress.finished.remove(first) != nil {
            progress.pending.removeFirst()
            progress.committable = first + 1
        }
        partitions[partition] = progress
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
