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

@Suite struct TraceparentTests {
    @Test func onlyAW3CTraceContextIsKept() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        #expect(OrderProcessor.traceparent(valid) == valid)
        for bad in [nil, "", "00-4bf92f3577b34da6a3ce929d0e0e\u{0}736-00f067aa0ba902b7-01", valid.uppercased(), valid + "-x",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b701-", String(repeating: "a", count: 55)] {
            #expect(OrderProcessor.traceparent(bad) == nil, "\(String(describing: bad))")
        }
    }
}
