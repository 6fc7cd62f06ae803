extension Duration {
    /// The duration as a librdkafka timeout in milliseconds: sub-millisecond remainders round
    /// up (a 500 µs wait is 1 ms, never 0, which would not wait at all), negative durations
    /// are 0 (librdkafka reads -1 as "wait for ever"), and long ones are capped at `Int32.max`.
    ///
    /// Every `Duration` handed to librdkafka goes through this one conversion. (CashierCore's
    /// `wholeMilliseconds` truncates to `Int64` for SQL and timers; the Kafka module does not
    /// depend on the domain core, and a C timeout needs this rounding and range.)
    var rdKafkaTimeoutMilliseconds: Int32 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
        let partial = (attoseconds + attosecondsPerMillisecond - 1) / attosecondsPerMillisecond
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow, scaled <= Int64(Int32.max) - partial else { return .max }
        return Int32(scaled + partial)
    }
}
