import Foundation

/// The readable report printed after `cashier publish --await-results` (and by `make demo`).
public struct RunSummary: Sendable {
    public var runID: String
    public var published: Int
    public var invalid: Int
    public var expected: Int
    public var results: [String: ResultCollector.Seen]
    public var publishMilliseconds: [String: Int64]
    public var firstPublishMilliseconds: Int64
    public var duplicates: Int
    public var conflictingDuplicates: Int

    public init(
        runID: String, published: Int, invalid: Int, expected: Int, results: [String: ResultCollector.Seen],
        publishMilliseconds: [String: Int64], firstPublishMilliseconds: Int64, duplicates: Int, conflictingDuplicates: Int
    ) {
        self.runID = runID
        self.published = published
        self.invalid = invalid
        self.expected = expected
        self.results = results
        self.publishMilliseconds = publishMilliseconds
        self.firstPublishMilliseconds = firstPublishMilliseconds
        self.duplicates = duplicates
        self.conflictingDuplicates = conflictingDuplicates
    }

    public func render() -> String {
        var lines: [String] = []
        let byStatus = Dictionary(grouping: results.values, by: \.status).mapValues(\.count)
        let succeeded = byStatus["succeeded", default: 0]
        let failed = byStatus["failed", default: 0]
        let rejected = byStatus["rejected", default: 0]
        let settled = succeeded + failed
        let lastArrival = results.values.map(\.arrivedMilliseconds).max() ?? firstPublishMilliseconds
        let seconds = max(Double(lastArrival - firstPublishMilliseconds) / 1000, 0.001)
        let latencies = results.compactMap { key, seen in publishMilliseconds[key].map { seen.arrivedMilliseconds - $0 } }.sorted()
        let retried = results.values.filter { $0.attempts > 1 }.count
        let retriedAndCharged = results.values.filter { $0.attempts > 1 && $0.status == "succeeded" }.count
        let deadLettered = results.values.filter { $0.reasonCode == "retries_exhausted" }.count

        lines.append("── Cashier run \(runID) ──────────────────────────────────────────")
        lines.append("published        \(published) orders (\(published - invalid) valid, \(invalid) deliberately invalid)")
        lines.append("results          \(results.count) of \(expected)\(results.count < expected ? "  ← MISSING \(expected - results.count)" : "")")
        lines.append("by status        succeeded \(succeeded) · failed \(failed) · rejected \(rejected)")
        var channels: [String] = []
        for (channel, seen) in Dictionary(grouping: results.values.filter { $0.channel != nil }, by: { $0.channel! }).sorted(by: { $0.key < $1.key }) {
            let ok = seen.filter { $0.status == "succeeded" }.count
            channels.append("\(channel): \(ok) succeeded, \(seen.count - ok) failed")
        }
        lines.append("by channel       \(channels.isEmpty ? "-" : channels.joined(separator: " · "))")
        if settled > 0 {
            lines.append("success rate     \(percent(succeeded, settled)) of charged orders · failure rate \(percent(failed, settled))")
        }
        lines.append("retried          \(retried) orders needed more than one channel call (\(retriedAndCharged) of them charged in the end)")
        lines.append("dead-lettered    \(deadLettered) orders failed with retries_exhausted (see `cashier dlq list`)")
        lines.append("throughput       \(Int(Double(results.count) / seconds)) orders/s (\(String(format: "%.2f", seconds)) s from first publish to last result)")
        // At an offered rate the line above is bounded by the slowest order (a retried one ends
        // seconds later by design); the orders settled by their first call show whether the
        // pipeline kept up.
        let firstCall = results.values.filter { $0.attempts == 1 && ($0.status == "succeeded" || $0.status == "failed") }
        if let last = firstCall.map(\.arrivedMilliseconds).max() {
            let firstCallSeconds = max(Double(last - firstPublishMilliseconds) / 1000, 0.001)
            lines.append(
                "first calls      \(Int(Double(firstCall.count) / firstCallSeconds)) orders/s (the \(firstCall.count) orders settled by their first call, the last \(String(format: "%.2f", firstCallSeconds)) s after the first publish)")
        }
        if !latencies.isEmpty {
            lines.append("latency          p50 \(percentile(latencies, 0.50)) ms · p99 \(percentile(latencies, 0.99)) ms · max \(latencies.last!) ms (publish → result)")
        }
        lines.append("duplicate results \(duplicates) (same event_id and content: \(duplicates - conflictingDuplicates); differing: \(conflictingDuplicates))")
        return lines.joined(separator: "\n")
    }

    private func percent(_ part: Int, _ whole: Int) -> String {
        String(format: "%.1f%%", Double(part) * 100 / Double(whole))
    }

    private func percentile(_ sorted: [Int64], _ p: Double) -> Int64 {
        sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }
}
