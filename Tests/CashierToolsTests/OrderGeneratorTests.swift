import CashierCore
import CashierTools
import Testing

/// The load generator's orders are what the worker expects: valid ones decode and keep their
/// ids, invalid ones are each rejected, and the fault mix picks the sandbox's magic methods.
@Suite struct OrderGeneratorTests {
    @Test(arguments: ["card", "alipay", "wechat", "mixed"])
    func validOrdersDecodeAsTheyWereMade(_ channel: String) throws {
        var generator = OrderGenerator(runID: "t1", channel: channel, faults: FaultMix())
        for index in 0..<60 {
            let order = generator.valid(index, nowMilliseconds: 1_790_000_000_000)
            let decoded = try OrderCreated.decode(Array(order.json().utf8))
            #expect(decoded.orderID == generator.orderID(index))
            #expect(decoded.eventID == "evt_t1_\(index)")
            #expect(decoded.channel == order.channel)
            if channel != "mixed" { #expect(decoded.channel.rawValue == channel) }
            // Alipay withholding and WeChat Pay deductions charge CNY only.
            if decoded.channel != .card { #expect(decoded.currency == .cny) }
        }
    }

    @Test func mixedSpreadsOrdersOverEveryChannel() {
        var generator = OrderGenerator(runID: "t2", channel: "mixed", faults: FaultMix())
        let channels = Set((0..<Channel.allCases.count).map { generator.valid($0, nowMilliseconds: 0).channel })
        #expect(channels == Set(Channel.allCases))
    }

    @Test func theFaultMixChoosesTheSandboxMethods() {
        var declining = OrderGenerator(runID: "t3", channel: "card", faults: FaultMix(decline: 1))
        #expect((0..<20).allSatisfy { declining.valid($0, nowMilliseconds: 0).paymentMethod.hasPrefix("pm_card_chargeDeclined") })
        var flaky = OrderGenerator(runID: "t3", channel: "card", faults: FaultMix(decline: 0, transient: 1))
        #expect((0..<20).allSatisfy { flaky.valid($0, nowMilliseconds: 0).paymentMethod == "pm_sandbox_flaky_2" })
        var down = OrderGenerator(runID: "t3", channel: "card", faults: FaultMix(decline: 0, unavailable: 1))
        #expect((0..<20).allSatisfy { down.valid($0, nowMilliseconds: 0).paymentMethod == "pm_sandbox_unavailable" })
        var healthy = OrderGenerator(runID: "t3", channel: "card", faults: FaultMix(decline: 0))
        #expect((0..<20).allSatisfy { healthy.valid($0, nowMilliseconds: 0).paymentMethod == "pm_card_visa" })
    }

    @Test(arguments: 0..<12)
    func everyInvalidKindIsRejected(_ k: Int) {
        let generator = OrderGenerator(runID: "t4", channel: "card", faults: FaultMix())
        let (bytes, orderID, kind) = generator.invalid(k)
        #expect(throws: OrderRejection.self, "\(kind)") { try OrderCreated.decode(bytes) }
        // The key it is published under is one the result can be matched by.
        if let orderID { #expect(orderID == "ord_t4_bad\(k)") }
    }

    @Test func theInvalidKindsCycleThroughTwelveDistinctOnes() {
        let generator = OrderGenerator(runID: "t5", channel: "card", faults: FaultMix())
        #expect(Set((0..<12).map { generator.invalid($0).kind }).count == 12)
        #expect(generator.invalid(12).kind == generator.invalid(0).kind)
    }
}
