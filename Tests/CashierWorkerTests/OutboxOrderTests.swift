import Testing
@testable import CashierWorker

/// The relay marks published only what keeps each order's events in the order written.
@Suite struct OutboxOrderTests {
    @Test func everyDeliveredRecordIsPublishedWhenNothingFailed() {
        let outcomes = [(id: Int64(1), key: "ord_a", delivered: true), (2, "ord_b", true), (3, "ord_a", true)]
        #expect(OutboxRelay.publishable(outcomes) == [1, 2, 3])
    }

    @Test func aFailedDeliveryHoldsBackTheLaterRecordsOfItsKeyOnly() {
        let outcomes = [
            (id: Int64(1), key: "ord_a", delivered: true),
            (2, "ord_b", false),  // e.g. `failed`, not delivered
            (3, "ord_a", true),
            (4, "ord_b", true),  // the later `succeeded`: must be re-sent after 2
            (5, "ord_c", true),
            (6, "ord_b", true),
        ]
        #expect(OutboxRelay.publishable(outcomes) == [1, 3, 5])
    }

    @Test func recordsBeforeTheFailureOfTheirKeyStayPublished() {
        let outcomes = [(id: Int64(1), key: "ord_a", delivered: true), (2, "ord_a", false), (3, "ord_a", true)]
        #expect(OutboxRelay.publishable(outcomes) == [1])
    }
}
