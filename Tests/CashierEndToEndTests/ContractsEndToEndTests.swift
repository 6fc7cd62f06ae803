import CashierCore
import Foundation
import Testing

/// The events Cashier really produces validate against the published JSON Schemas
/// (Contracts/, checked by scripts/check-contracts.py with python3-jsonschema).
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct ContractsEndToEndTests {
    @Test func producedEventsMatchTheirSchemas() async throws {
        let pipeline = try await Pipeline.shared()
        let succeeded = pipeline.order("contract_ok")
        let declined = pipeline.order("contract_declined", paymentMethod: "pm_card_chargeDeclined")
        let retried = pipeline.order("contract_retried", paymentMethod: "pm_sandbox_flaky_1")
        let exhausted = pipeline.order("contract_exhausted", paymentMethod: "pm_sandbox_unavailable")
        let rejected = pipeline.orderID("contract_rejected")
        let orders = [succeeded, declined, retried, exhausted]
        for order in orders { try await pipeline.publish(order) }
        try await pipeline.publish(Array(#"{"event_id":"e","order_id":"\#(rejected)","user_id":"u","item_id":"i","price":-1,"currency":"CNY","channel":"card","payment_method":"pm"}"#.utf8), key: rejected)
        var conflicting = succeeded
        conflicting.price += 1
        try await pipeline.waitForTerminal(orders.map(\.orderID))
        try await pipeline.publish(conflicting)

        let directory = NSTemporaryDirectory() + "cashier-contracts-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written = 0
        func write(_ events: [String: [(value: JSONValue, bytes: [UInt8])]], as schema: String) throws {
            for event in events.values.flatMap({ $0 }) {
                written += 1
                try Data(event.bytes).write(to: URL(fileURLWithPath: "\(directory)/\(schema).\(written).json"))
            }
        }
        try write(try await pipeline.messages(for: Set(orders.map(\.orderID) + [rejected]), atLeast: 5), as: "payment-result")
        try write(try await pipeline.messages(for: [retried.orderID, exhausted.orderID], atLeast: 2, topic: "payments.retry"), as: "payment-retry")
        try write(try await pipeline.messages(for: [exhausted.orderID, succeeded.orderID], atLeast: 2, topic: "payments.dlq"), as: "dead-letter")
        #expect(written >= 9, "results 5, retries 2, dead letters 2")

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/check-contracts.py").path
        let verdict = try? await Shell.run(["python3", script, "--events", directory])
        #expect(verdict != nil, "produced events do not match the schemas: run scripts/check-contracts.py --events \(directory)")
    }
}
