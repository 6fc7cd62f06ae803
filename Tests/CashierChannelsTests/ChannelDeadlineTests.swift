import AsyncHTTPClient
@testable import CashierChannels
import CashierCore
import CashierSandbox
import NIOCore
import Testing

/// One deadline per channel call (DESIGN.md §6): the whole exchange, body included, and the
/// caller gets its answer at the deadline even from an operation that ignores cancellation.
@Suite struct ChannelDeadlineTests {
    /// Sleeps for `duration` whatever happens to the caller: awaiting a detached task's value
    /// does not pass cancellation on.
    static func sleepIgnoringCancellation(_ duration: Duration) async {
        await Task.detached { try? await Task.sleep(for: duration) }.value
    }

    struct OwnError: Error, Equatable {}

    @Test func anOperationThatIgnoresCancellationIsLeftAtTheDeadline() async throws {
        await TestKeys.prepare()
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: ChannelHTTPError.deadlineExceeded(after: .milliseconds(200))) {
            try await ChannelHTTP.withDeadline(.milliseconds(200)) {
                await Self.sleepIgnoringCancellation(.seconds(5))
                return 1
            }
        }
        // The bound leaves room for a busy 2-core machine; the operation itself takes 5 s.
        let elapsed = clock.now - started
        #expect(elapsed < .seconds(2), "took \(elapsed)")
    }

    @Test func aResultBeforeTheDeadlineIsReturned() async throws {
        let value = try await ChannelHTTP.withDeadline(.seconds(2)) { 42 }
        #expect(value == 42)
        await #expect(throws: OwnError()) { try await ChannelHTTP.withDeadline(.seconds(2)) { () async throws -> Int in throw OwnError() } }
    }

    @Test func anOperationEndingWithItsOwnErrorWhenCancelledGivesThatError() async throws {
        // The HTTP client's own error can prove nothing was sent; it is kept when it comes in time.
        await #expect(throws: OwnError()) {
            try await ChannelHTTP.withDeadline(.milliseconds(100)) { () async throws -> Int in
                do { try await Task.sleep(for: .seconds(5)) } catch { throw OwnError() }
                return 0
            }
        }
    }

    @Test func cancellingTheCallerEndsTheWaitAtOnce() async throws {
        await TestKeys.prepare()
        let clock = ContinuousClock()
        let started = clock.now
        let call = Task {
            try await ChannelHTTP.withDeadline(.seconds(5)) {
                await Self.sleepIgnoringCancellation(.seconds(5))
                return 1
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(clock.now - started < .seconds(2))
    }

    @Test func theDeadlineCoversTheBodyOfAnAnswerThatStallsMidway() async throws {
        await TestKeys.prepare()
        let client = ChannelHTTP.makeClient(maxConnectionsPerHost: 2)
        try await withSandbox { url, server in
            var request = HTTPClientRequest(url: "\(url)/v1/payment_intents")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer sk_test")
            request.headers.add(name: "Idempotency-Key", value: "key_stall_exchange")
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: "amount=100&currency=usd&payment_method=pm_sandbox_stall&confirm=true&off_session=true&metadata%5Border_id%5D=ord_x"))
            let clock = ContinuousClock()
            let started = clock.now
            do {
                let answer = try await ChannelHTTP.exchange(client, request, timeout: .milliseconds(800), maxBody: 1 << 16)
                Issue.record("a stalled answer cannot complete: \(answer.status) \(answer.body.count) bytes")
            } catch {
                #expect(ChannelHTTP.isTimeout(error), "\(error)")
                #expect(ChannelHTTP.transportOutcome(error, channel: "test").reason?.code == "timeout")
            }
            #expect(clock.now - started < .milliseconds(1800))
            #expect(server.card.intents.count == 1)
            // The pool is still usable, and the same key replays the saved answer whole.
            let replay = try await ChannelHTTP.exchange(client, request, timeout: .seconds(2), maxBody: 1 << 16)
            #expect(replay.status == 200)
            #expect(try JSONParser.parse(replay.body)["status"] == .string("succeeded"))
        }
        try await client.shutdown()
    }

    @Test func onlyErrorsThatProveNothingWasSentAreRetryable() {
        #expect(ChannelHTTP.transportOutcome(HTTPClientError.connectTimeout, channel: "t").kind == "not_sent")
        #expect(ChannelHTTP.transportOutcome(HTTPClientError.getConnectionFromPoolTimeout, channel: "t").kind == "not_sent")
        #expect(ChannelHTTP.transportOutcome(ChannelHTTPError.deadlineExceeded(after: .seconds(1)), channel: "t").reason?.code == "timeout")
        #expect(ChannelHTTP.transportOutcome(HTTPClientError.deadlineExceeded, channel: "t").reason?.code == "timeout")
        #expect(ChannelHTTP.transportOutcome(HTTPClientError.remoteConnectionClosed, channel: "t").reason?.code == "transport_error")
        #expect(ChannelHTTP.transportOutcome(CancellationError(), channel: "t").reason?.code == "cancelled")
    }
}
