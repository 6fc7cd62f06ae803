import Kafka
import Testing
@testable import CashierWorker

@Suite struct OffsetTrackerTests {
    let partition = TopicPartition(topic: "orders.created", partition: 0)

    @Test func commitsOnlyTheContiguousPrefixOfFinishedRecords() {
        var tracker = OffsetTracker()
        tracker.assign([partition])
        let generation = (10...14).map { tracker.received(partition, offset: Int64($0))! }.first!
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
        tracker.assign([partition])
        let old = tracker.received(partition, offset: 5)!
        _ = tracker.revoke([partition])
        tracker.assign([partition])
        let new = tracker.received(partition, offset: 5)!
        #expect(old != new)
        tracker.finished(partition, offset: 5, generation: old)
        #expect(tracker.committable().isEmpty)
        tracker.finished(partition, offset: 5, generation: new)
        #expect(tracker.committable().map(\.1) == [6])
    }

    @Test func revocationHandsBackWhatMayStillBeCommitted() {
        var tracker = OffsetTracker()
        tracker.assign([partition])
        let generation = tracker.received(partition, offset: 0)!
        _ = tracker.received(partition, offset: 1)
        tracker.finished(partition, offset: 0, generation: generation)
        let handedBack = tracker.revoke([partition])
        #expect(handedBack.map(\.1) == [1])
        #expect(tracker.committable().isEmpty)
    }

    @Test func aRecordSeenTwiceIsProcessedOnce() {
        var tracker = OffsetTracker()
        tracker.assign([partition])
        #expect(tracker.received(partition, offset: 3) != nil)
        #expect(tracker.received(partition, offset: 3) == nil)
    }

    @Test func randomCompletionOrderAlwaysCommitsExactlyTheFinishedPrefix() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var tracker = OffsetTracker()
            tracker.assign([partition])
            let count = Int.random(in: 1...50, using: &generator)
            var generation = 0
            for offset in 0..<count { generation = tracker.received(partition, offset: Int64(offset))! }
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
