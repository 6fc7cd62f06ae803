import CashierTools
import Testing

/// The report of `cashier publish --await-results`: `scripts/bench.sh` and `make demo` read its
/// lines (`results`, `throughput`, `latency p50 … · p99 …`), so their shape is tested here.
@Suite struct RunSummaryTests {
    /// `count` results, the i-th (from 1) arriving i ms after it was published at 1000.
    static func summary(count: Int, expected: Int? = nil, status: (Int) -> String = { _ in "succeeded" }) -> RunSummary {
        var results: [String: ResultCollector.Seen] = [:]
        var published: [String: Int64] = [:]
        for i in 1...count {
            results["ord_\(i)"] = .init(
                status: status(i), channel: "card", eventID: "res_\(i)", arrivedMilliseconds: 1000 + Int64(i), attempts: i % 10 == 0 ? 2 : 1,
                reasonCode: status(i) == "failed" ? "retries_exhausted" : nil)
            published["ord_\(i)"] = 1000
        }
        return RunSummary(
            runID: "r1", published: expected ?? count, invalid: 0, expected: expected ?? count, results: results,
            publishMilliseconds: published, firstPublishMilliseconds: 1000, duplicates: 3, conflictingDuplicates: 1)
    }

    func line(_ summary: RunSummary, _ prefix: String) -> String? {
        summary.render().split(separator: "\n").map(String.init).first { $0.hasPrefix(prefix) }
    }

    @Test func latencyPercentilesAreNearestRank() {
        let summary = Self.summary(count: 100)
        #expect(line(summary, "latency") == "latency          p50 50 ms · p99 99 ms · max 100 ms (publish → result)")
    }

    @Test func percentilesOfOneResultAreThatResult() {
        #expect(line(Self.summary(count: 1), "latency") == "latency          p50 1 ms · p99 1 ms · max 1 ms (publish → result)")
    }

    @Test func throughputIsResultsOverFirstPublishToLastResult() {
        // 100 results, the last 100 ms after the first publish.
        #expect(line(Self.summary(count: 100), "throughput") == "throughput       1000 orders/s (0.10 s from first publish to last result)")
    }

    @Test func firstCallThroughputLeavesRetriedOrdersOut() {
        // Every tenth order took two calls, and the 100th arrives last: the 90 first-call
        // orders end with the 99th, 99 ms after the first publish.
        #expect(line(Self.summary(count: 100), "first calls")
            == "first calls      909 orders/s (the 90 orders settled by their first call, the last 0.10 s after the first publish)")
    }

    @Test func countsRatesRetriesAndDuplicates() {
        let summary = Self.summary(count: 20) { $0 <= 15 ? "succeeded" : "failed" }
        #expect(line(summary, "by status") == "by status        succeeded 15 · failed 5 · rejected 0")
        #expect(line(summary, "by channel") == "by channel       card: 15 succeeded, 5 failed")
        #expect(line(summary, "success rate") == "success rate     75.0% of charged orders · failure rate 25.0%")
        #expect(line(summary, "retried") == "retried          2 orders needed more than one channel call (1 of them charged in the end)")
        #expect(line(summary, "dead-lettered") == "dead-lettered    5 orders failed with retries_exhausted (see `cashier dlq list`)")
        #expect(line(summary, "duplicate") == "duplicate results 3 (same event_id and content: 2; differing: 1)")
    }

    @Test func missingResultsAreCalledOut() {
        #expect(line(Self.summary(count: 8, expected: 10), "results") == "results          8 of 10  ← MISSING 2")
        #expect(line(Self.summary(count: 10), "results") == "results          10 of 10")
    }

    @Test func noResultsMeansNoLatencyLineAndNoRates() {
        let empty = RunSummary(
            runID: "r0", published: 5, invalid: 5, expected: 5, results: [:], publishMilliseconds: [:], firstPublishMilliseconds: 0,
            duplicates: 0, conflictingDuplicates: 0)
        #expect(line(empty, "latency") == nil)
        #expect(line(empty, "success rate") == nil)
        #expect(line(empty, "by channel") == "by channel       -")
        #expect(line(empty, "published") == "published        5 orders (0 valid, 5 deliberately invalid)")
    }
}
