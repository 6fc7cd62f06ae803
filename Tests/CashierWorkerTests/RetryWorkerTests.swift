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
}
