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

@Suite struct ChannelProtectionTests {
    let request = ChargeRequest(paymentID: "p", orderID: "o", itemID: "i", amount: 1, currency: .cny, paymentMethod: "m", idempotencyKey: "k")

    @Test func theBreakerOpensWhenEnoughCallsFailAndAProbeClosesIt() async throws {
        let scripted = ScriptedChannel()
        var settings = ChannelProtection.Settings()
        settings.minimumCalls = 3
        settings.openFor = .milliseconds(200)
        let channel = ChannelProtection(scripted, settings: settings, logger: Logger(label: "test"))
        for _ in 0..<3 { #expect(await channel.charge(request).reason?.code == "service_unavailable") }
        #expect(channel.isOpen)
        // Open: refused at once, the channel is not called.
        #expect(await channel.charge(request).reason?.code == "circuit_open")
        #expect(scripted.calls.load(ordering: .relaxed) == 3)
        try await Task.sleep(for: .milliseconds(250))
        scripted.failing.store(false, ordering: .relaxed)
        #expect(await channel.charge(request) == .succeeded(reference: "T"), "the half-open probe goes through")
        #expect(!channel.isOpen)
    }

    @Test func aFailedProbeOpensTheBreakerAgain() async throws {
        let scripted = ScriptedChannel()
        var settings = ChannelProtection.Settings()
        settings.minimumCalls = 1
        settings.openFor = .milliseconds(100)
        let channel = ChannelProtection(scripted, settings: settings, logger: Logger(label: "test"))
        _ = await channel.charge(request)
        try await Task.sleep(for: .milliseconds(150))
        #expect(await channel.charge(request).reason?.code == "service_unavailable", "probe")
        #expect(await channel.charge(request).reason?.code == "circuit_open")
    }

    @Test func aFewFailuresAmongManySuccessesDoNotOpenTheBreaker() async throws {
        let scripted = ScriptedChannel()
        var settings = ChannelProtection.Settings()
        settings.minimumCalls = 10
        let channel = ChannelProtection(scripted, settings: settings, logger: Logger(label: "test"))
        scripted.failing.store(false, ordering: .relaxed)
        for _ in 0..<8 { _ = await channel.charge(request) }
        scripted.failing.store(true, ordering: .relaxed)
        for _ in 0..<6 { _ = await channel.charge(request) }
        #expect(!channel.isOpen, "6 failures in 14 calls stay under half")
        for _ in 0..<3 { _ = await channel.charge(request) }
        #expect(channel.isOpen, "9 failures in 17 calls are over half")
    }

    @Test func aFullChannelSendsNewCallsToTheRetryPathInsteadOfQueueing() async throws {
        let scripted = ScriptedChannel(delay: .milliseconds(300))
        scripted.failing.store(false, ordering: .relaxed)
        var settings = ChannelProtection.Settings()
        settings.concurrency = 2
        settings.permitWait = .milliseconds(50)
        let channel = ChannelProtection(scripted, settings: settings, logger: Logger(label: "test"))
        let request = self.request
        let outcomes = await withTaskGroup(of: ChannelOutcome.self) { group in
            for _ in 0..<4 { group.addTask { await channel.charge(request) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0.kind == "succeeded" }.count == 2)
        #expect(outcomes.filter { $0.reason?.code == "channel_busy" }.count == 2)
        #expect(scripted.calls.load(ordering: .relaxed) == 2)
    }
}
