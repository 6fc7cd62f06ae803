@testable import Kafka
import Testing

/// Every Duration handed to librdkafka keeps its sub-second part.
@Suite struct DurationTimeoutTests {
    @Test(arguments: [
        (Duration.milliseconds(500), Int32(500)), (.seconds(10), 10_000), (.milliseconds(1500), 1500),
        (.seconds(1) + .milliseconds(1), 1001), (.milliseconds(2), 2),
    ])
    func wholeMillisecondsAreKept(_ duration: Duration, _ milliseconds: Int32) {
        #expect(duration.rdKafkaTimeoutMilliseconds == milliseconds)
    }

    @Test func aPartialMillisecondRoundsUpSoAWaitNeverBecomesNoWait() {
        #expect(Duration.nanoseconds(1).rdKafkaTimeoutMilliseconds == 1)
        #expect(Duration.microseconds(500).rdKafkaTimeoutMilliseconds == 1)
        #expect(Duration.microseconds(1500).rdKafkaTimeoutMilliseconds == 2)
        #expect((Duration.seconds(2) + .nanoseconds(1)).rdKafkaTimeoutMilliseconds == 2001)
    }

    @Test func zeroAndNegativeAreNoWaitNeverForever() {
        // librdkafka reads -1 as "wait for ever".
        #expect(Duration.zero.rdKafkaTimeoutMilliseconds == 0)
        #expect(Duration.milliseconds(-1).rdKafkaTimeoutMilliseconds == 0)
        #expect(Duration.milliseconds(-500).rdKafkaTimeoutMilliseconds == 0)
        #expect(Duration.seconds(-3).rdKafkaTimeoutMilliseconds == 0)
    }

    @Test func longDurationsAreCappedInsteadOfTrapping() {
        #expect(Duration.milliseconds(Int64(Int32.max)).rdKafkaTimeoutMilliseconds == .max)
        #expect(Duration.seconds(3_000_000).rdKafkaTimeoutMilliseconds == .max)
        #expect(Duration.seconds(Int64.max / 2).rdKafkaTimeoutMilliseconds == .max)
        #expect(Duration.milliseconds(Int64(Int32.max) - 1).rdKafkaTimeoutMilliseconds == Int32.max - 1)
    }
}
