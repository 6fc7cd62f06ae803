import CashierCore
import Kafka
import Testing
@testable import CashierWorker

@Suite struct RetryWorkerTests {
    func message(_ partition: Int32, _ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: "payments.retry", partition: partition, offset: offset, key: nil, value: [], headers: [])
    }

    @Test func aBatchCommitsTheOffsetAfterTheHighestRecordOfEachPartition() {
        let offsets = RetryWorker.nextOffsets([message(0, 4), message(1, 9), message(0, 7), message(0, 5)])
        let byPartition = Dictionary(uniqueKeysWithValues: offsets.map { ($0.0.partition, $0.1) })
        #expect(byPartition == [0: 8, 1: 10])
    }

    @Test func aLeaseOutlastsACallWithItsRepeatsAndRoomToRecordIt() {
        let lease = RetryWorkerConfiguration.lease(forChannelTimeout: .seconds(10), repeats: 2)
        // Three calls of 10 s, 250 + 500 ms between them, 30 s to record.
        #expect(lease == .milliseconds(60_750))
        #expect(RetryWorkerConfiguration.lease(forChannelTimeout: .seconds(2), repeats: 0) == .seconds(32))
    }
}
