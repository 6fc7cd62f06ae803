import CashierChannels
import CashierCore
import Logging
import Synchronization
import Testing
@testable import CashierWorker

/// A channel that answers from a script and counts its calls (a stand-in adapter: the real
/// adapters are tested over HTTP in CashierChannelsTests).
final class ScriptedChannel: ChannelAdapter, Sendable {
    let channel = Channel.alipay
    let failing = Atomic<Bool>(true)
    let calls = Atomic<Int>(0)
    let delay: Duration

    init(delay: Duration = .zero) { self.delay = delay }

    func charge(_ request: ChargeRequest) async -> ChannelOutcome {
        calls.add(1, ordering: .relaxed)
        if delay > .zero { try? await Task.sleep(for: delay) }
        return failing.load(ordering: .relaxed) ? .retryable(Reason(code: "service_unavailable", message: "down")) : .succeeded(reference: "T")
    }

    func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup { .notPaid }
}

/// A channel that accepts every deduction as pending (as WeChat Pay does), or answers every
/// call with another unknown outcome's code.
struct PendingChannel: ChannelAdapter {
    let channel = Channel.wechat
    var code = "pending"
    func charge(_ request: ChargeRequest) async -> ChannelOutcome { .unknown(Reason(code: code, message: "accepted")) }
    func lookup(_ request: ChargeRequest, reference: String?) async -> PaymentLookup { .notPaid }
}

@Suite struct ChannelProtectionTests {
    let request = ChargeRequest(paymentID: "p", orderID: "o", itemID: "i", amount: 1, currency: .cny, paymentMethod: "m", idempotencyKey: "k")

    func protection(_ scripted: ScriptedChannel, _ configure: (inout ChannelProtection.Settings) -> Void) -> ChannelProtection {
        var settings = ChannelProtection.Settings()
        configure(&settings)
        return ChannelProtection(scripted, settings: settings, defaultLimit: 64, logger: Logger(label: "test"))
    }

    @Test func anOpenBreakerHoldsCallsBackWithoutSendingThem() async throws {
        let scripted = ScriptedChannel()
        let channel = protection(scripted) { $0.minimumCalls = 3; $0.openFor = .seconds(60) }
        for _ in 0..<3 { #expect(await channel.charge(request)?.reason?.code == "service_unavailable") }
        #expect(channel.isOpen)
        // Open: a call waits instead of being sent or failed; past its wait nothing is sent.
        #expect(await channel.admit(maxWait: .milliseconds(50)) == .circuitOpen)
        #expect(await channel.charge(request, maxWait: .milliseconds(50)) == nil)
        #expect(scripted.calls.load(ordering: .relaxed) == 3)
    }

    @Test func aCallThatWaitsPastTheOpenTimeIsTheProbeAndItsSuccessClosesTheBreaker() async throws {
        let scripted = ScriptedChannel()
        let channel = protection(scripted) { $0.minimumCalls = 3; $0.openFor = .milliseconds(200) }
        for _ in 0..<3 { _ = await channel.charge(request) }
        scripted.failing.store(false, ordering: .relaxed)
        #expect(await channel.charge(request, maxWait: .seconds(30)) == .succeeded(reference: "T"))
        #expect(!channel.isOpen)
        #expect(scripted.calls.load(ordering: .relaxed) == 4)
    }

    /// The breaker's states on a clock stepped by hand: what a loaded machine's timing cannot
    /// blur (these tests share two cores with the property tests).
    @Test func theBreakerLetsOneProbeThroughAfterItsOpenTimeAndAFailedProbeOpensItAgain() {
        let clock = ManualClock()
        let breaker = Breaker(minimumCalls: 2, failureRatio: 0.5, window: .seconds(10), openFor: .milliseconds(100), now: clock.now)
        #expect(breaker.allows())
        #expect(breaker.record(failed: true) == .unchanged, "under the minimum number of calls")
        #expect(breaker.record(failed: true) == .opened)
        #expect(!breaker.allows() && breaker.isOpen)
        clock.advance(.milliseconds(99))
        #expect(!breaker.allows())
        clock.advance(.milliseconds(1))
        #expect(breaker.allows(), "the half-open probe")
        #expect(!breaker.allows(), "one probe at a time")
        #expect(breaker.record(failed: true) == .unchanged, "a failed probe opens it again")
        #expect(!breaker.allows() && breaker.isOpen)
        clock.advance(.milliseconds(100))
        #expect(breaker.allows(), "the next probe")
        breaker.release()
        #expect(breaker.allows(), "a probe not made after all gives its turn back")
        #expect(breaker.record(failed: false) == .closed)
        #expect(breaker.allows() && breaker.allows() && !breaker.isOpen)
    }

    @Test func aFewFailuresAmongManySuccessesDoNotOpenTheBreaker() async throws {
        let scripted = ScriptedChannel()
        let channel = protection(scripted) { $0.minimumCalls = 10 }
        scripted.failing.store(false, ordering: .relaxed)
        for _ in 0..<8 { _ = await channel.charge(request, maxWait: .zero) }
        scripted.failing.store(true, ordering: .relaxed)
        for _ in 0..<6 { _ = await channel.charge(request, maxWait: .zero) }
        #expect(!channel.isOpen, "6 failures in 14 calls stay under half")
        for _ in 0..<3 { _ = await channel.charge(request, maxWait: .zero) }
        #expect(channel.isOpen, "9 failures in 17 calls are over half")
    }

    @Test func aFullChannelMakesCallsWaitForAPlaceInsteadOfRefusingThem() async throws {
        let scripted = ScriptedChannel(delay: .milliseconds(200))
        scripted.failing.store(false, ordering: .relaxed)
        let channel = protection(scripted) { $0.concurrency = 2 }
        let request = self.request
        let started = ContinuousClock.now
        let outcomes = await withTaskGroup(of: ChannelOutcome?.self) { group in
            for _ in 0..<4 { group.addTask { await channel.charge(request) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0 == .succeeded(reference: "T") }, "nobody is refused")
        #expect(scripted.calls.load(ordering: .relaxed) == 4)
        #expect(ContinuousClock.now - started >= .milliseconds(400), "two at a time")
    }

    @Test func withoutASettingTheLimitIsThreeQuartersOfTheWorkersConcurrency() {
        let channel = ChannelProtection(ScriptedChannel(), settings: .init(), defaultLimit: 256, logger: Logger(label: "test"))
        #expect(channel.limit == 192, "one channel can never hold every slot")
    }

    @Test func answersInProgressNeverOpenTheBreaker() async throws {
        var settings = ChannelProtection.Settings()
        settings.minimumCalls = 3
        let wechat = ChannelProtection(PendingChannel(), settings: settings, defaultLimit: 8, logger: Logger(label: "test"))
        for _ in 0..<10 { _ = await wechat.charge(request, maxWait: .zero) }
        #expect(!wechat.isOpen, "accepted deductions are a healthy channel")
    }

    /// "A request with this key came before" is answered at once by a healthy channel (the bug,
    /// if any, is ours): it must not slow every order of the channel.
    @Test func answersNamingAnEarlierRequestNeverOpenTheBreakerButTimeoutsDo() async throws {
        var settings = ChannelProtection.Settings()
        settings.minimumCalls = 3
        for code in ["idempotency_key_in_use", "idempotency_error", "ACQ.CONTEXT_INCONSISTENT", "OUT_TRADE_NO_USED", ChannelOutcome.termsMismatchCode] {
            let channel = ChannelProtection(PendingChannel(code: code), settings: settings, defaultLimit: 8, logger: Logger(label: "test"))
            for _ in 0..<10 { _ = await channel.charge(request, maxWait: .zero) }
            #expect(!channel.isOpen, "\(code) is a healthy channel's answer")
        }
        let silent = ChannelProtection(PendingChannel(code: "timeout"), settings: settings, defaultLimit: 8, logger: Logger(label: "test"))
        for _ in 0..<10 { _ = await silent.charge(request, maxWait: .zero) }
        #expect(silent.isOpen, "unknown outcomes from a silent channel still count")
    }
}

/// A clock for the breaker that moves only when told.
final class ManualClock: Sendable {
    private let current = Mutex(ContinuousClock.now)
    var now: @Sendable () -> ContinuousClock.Instant { { [self] in self.current.withLock { $0 } } }
    func advance(_ by: Duration) { current.withLock { $0 += by } }
}
