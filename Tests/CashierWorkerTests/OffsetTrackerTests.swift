import Kafka
import Testing
@testable import CashierWorker

@Suite struct OffsetTrackerTests {
    let partition = TopicPartition(topic: "orders.created", partition: 0)
    let other = TopicPartition(topic: "orders.created", partition: 1)

    @Test func commitsOnlyTheContiguousPrefixOfFinishedRecords() {
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        let generation = (10...14).map { tracker.received(partition, offset: Int64($0), epoch: 1)! }.first!
        tracker.finished(partition, offset: 11, generation: generation)
        tracker.finished(partition, offset: 12, generation: generation)
        #expect(tracker.committable().isEmpty, "10 is still in flight")
        tracker.finished(partition, offset: 10, generation: generation)
        #expect(tracker.committable().map(\.1) == [13])
        tracker.committed(tracker.committable())
        #expect(tracker.committable().isEmpty)
        tracker.finished(partition, offset: 14, generation: generation)
        #expect(tracker.committable().isEmpty, "13 is still in flight")
        tracker.finished(partition, offset: 13, generation: generation)
        #expect(tracker.committable().map(\.1) == [15])
        #expect(tracker.inFlight == 0)
    }

    @Test func workFinishedForAnEarlierAssignmentNeverAdvancesTheNewOne() {
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        let old = tracker.received(partition, offset: 5, epoch: 1)!
        _ = tracker.revoke([partition])
        tracker.assign([partition], epoch: 3)
        let new = tracker.received(partition, offset: 5, epoch: 3)!
        #expect(old != new)
        tracker.finished(partition, offset: 5, generation: old)
        #expect(tracker.committable().isEmpty)
        tracker.finished(partition, offset: 5, generation: new)
        #expect(tracker.committable().map(\.1) == [6])
    }

    @Test func revocationHandsBackWhatMayStillBeCommitted() {
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        let generation = tracker.received(partition, offset: 0, epoch: 1)!
        _ = tracker.received(partition, offset: 1, epoch: 1)
        tracker.finished(partition, offset: 0, generation: generation)
        let handedBack = tracker.revoke([partition])
        #expect(handedBack.map(\.1) == [1])
        #expect(tracker.committable().isEmpty)
    }

    @Test func aRecordSeenTwiceIsProcessedOnce() {
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        #expect(tracker.received(partition, offset: 3, epoch: 1) != nil)
        #expect(tracker.received(partition, offset: 3, epoch: 1) == nil)
    }

    @Test func recordsOfAPartitionNeverAssignedAreRefusedAndNeverCommitted() {
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        #expect(tracker.received(other, offset: 0, epoch: 1) == nil)
        #expect(tracker.received(other, offset: 1, epoch: 7) == nil)
        #expect(tracker.inFlight == 0)
        #expect(tracker.committable().isEmpty)
    }

    @Test func recordsFetchedBeforeARevocationInTheSamePollAreRefused() {
        // One poll returned offsets 7 and 8 (epoch 1), then ran the revocation (epoch 2).
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        let generation = tracker.received(partition, offset: 6, epoch: 1)!
        tracker.finished(partition, offset: 6, generation: generation)
        #expect(tracker.revoke([partition]).map(\.1) == [7])
        #expect(tracker.received(partition, offset: 7, epoch: 1) == nil)
        #expect(tracker.received(partition, offset: 8, epoch: 1) == nil)
        tracker.finished(partition, offset: 7, generation: generation)
        #expect(tracker.committable().isEmpty, "a partition no longer owned is never committed")
        #expect(tracker.inFlight == 0)
    }

    @Test func aRevokeAndReassignInOnePollRefusesTheOldAssignmentsRecords() {
        // Epoch 1: assigned; records 3…6 fetched. Inside one poll: records 5 and 6 returned (epoch 1),
        // then revoke (epoch 2) and assign again (epoch 3), then 3 and 4 re-fetched from the
        // committed offset (epoch 3). Only the new assignment's records count, and the commit
        // never passes 3 and 4.
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        _ = tracker.revoke([partition])
        tracker.assign([partition], epoch: 3)
        #expect(tracker.received(partition, offset: 5, epoch: 1) == nil)
        #expect(tracker.received(partition, offset: 6, epoch: 1) == nil)
        let generation = tracker.received(partition, offset: 3, epoch: 3)
        #expect(generation != nil, "not mistaken for an already-seen record")
        #expect(tracker.received(partition, offset: 4, epoch: 3) == generation)
        tracker.finished(partition, offset: 4, generation: generation!)
        #expect(tracker.committable().isEmpty, "3 is still in flight")
        tracker.finished(partition, offset: 3, generation: generation!)
        #expect(tracker.committable().map(\.1) == [5])
        #expect(tracker.received(partition, offset: 5, epoch: 3) != nil, "5 is read again under the new assignment")
    }

    @Test func recordsReturnedBeforeTheirAssignmentAreRefused() {
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 2)
        #expect(tracker.received(partition, offset: 0, epoch: 1) == nil)
        #expect(tracker.received(partition, offset: 0, epoch: 2) != nil)
    }

    @Test func aLaterRebalanceOfOtherPartitionsKeepsAcceptingRecords() {
        // Cooperative: partition 0 assigned at epoch 1, partition 1 added at epoch 2.
        var tracker = OffsetTracker()
        tracker.assign([partition], epoch: 1)
        #expect(tracker.received(partition, offset: 0, epoch: 1) != nil)
        tracker.assign([other], epoch: 2)
        #expect(tracker.received(partition, offset: 1, epoch: 2) != nil)
        #expect(tracker.received(other, offset: 0, epoch: 2) != nil)
        #expect(tracker.received(other, offset: 1, epoch: 1) == nil)
    }

    @Test func randomInterleavingsNeverCommitPastAnUnfinishedRecordOfTheCurrentAssignment() {
        // Property: whatever the rebalances and record epochs, a committable offset of a
        // partition is owned, and every offset below it in the current assignment was finished.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var tracker = OffsetTracker()
            var epoch = 0
            var owned = false
            var accepted: [Int64] = []
            var finished = Set<Int64>()
            var generation = 0
            var start: Int64 = 0
            for _ in 0..<40 {
                switch Int.random(in: 0..<10, using: &generator) {
                case 0:
                    epoch += 1
                    _ = tracker.revoke([partition])
                    owned = false
                case 1:
                    epoch += 1
                    tracker.assign([partition], epoch: epoch)
                    owned = true
                    accepted = []
                    finished = []
                    start = Int64.random(in: 0...5, using: &generator)
                default:
                    let recordEpoch = Int.random(in: max(0, epoch - 2)...epoch, using: &generator)
                    let offset = (accepted.last ?? start - 1) + Int64.random(in: 0...2, using: &generator)
                    if let got = tracker.received(partition, offset: offset, epoch: recordEpoch) {
                        #expect(owned)
                        generation = got
                        accepted.append(offset)
                    }
                    if !accepted.isEmpty, Bool.random(using: &generator) {
                        let done = accepted.randomElement(using: &generator)!
                        tracker.finished(partition, offset: done, generation: generation)
                        finished.insert(done)
                    }
                }
                for (committed, offset) in tracker.committable() {
                    #expect(owned && committed == partition)
                    #expect(accepted.filter { $0 < offset }.allSatisfy(finished.contains))
                }
            }
        }
    }

    @Test func randomCompletionOrderAlwaysCommitsExactlyTheFinishedPrefix() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var tracker = OffsetTracker()
            tracker.assign([partition], epoch: 1)
            let count = Int.random(in: 1...50, using: &generator)
            var generation = 0
            for offset in 0..<count { generation = tracker.received(partition, offset: Int64(offset), epoch: 1)! }
            var finished = Set<Int>()
            for offset in (0..<count).shuffled(using: &generator).prefix(Int.random(in: 0...count, using: &generator)) {
                tracker.finished(partition, offset: Int64(offset), generation: generation)
                finished.insert(offset)
            }
            var prefix = 0
            while finished.contains(prefix) { prefix += 1 }
            #expect(tracker.committable().map(\.1) == (prefix == 0 ? [] : [Int64(prefix)]))
        }
    }
}

@Suite struct KeyedSerializerTests {
    @Test func secondItemForABusyKeyWaitsForTheFirst() {
        let serializer = KeyedSerializer<Int>()
        #expect(serializer.submit(1, key: "ord_1"))
        #expect(!serializer.submit(2, key: "ord_1"))
        #expect(serializer.submit(3, key: "ord_2"))
        #expect(serializer.next(after: "ord_1") == 2)
        #expect(serializer.next(after: "ord_1") == nil)
        #expect(serializer.submit(4, key: "ord_1"), "the key is free again")
    }
}
