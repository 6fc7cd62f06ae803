import Foundation
import Logging
import Testing
@testable import CashierOps

/// The log lines: one JSON object (or one text line) per record, secrets masked in the message
/// and in every metadata value.
@Suite struct LineLogHandlerTests {
    static let date = Date(timeIntervalSince1970: 1_790_000_000.5)

    static func event(_ message: Logger.Message, _ metadata: Logger.Metadata? = nil, level: Logger.Level = .info) -> LogEvent {
        LogEvent(level: level, message: message, metadata: metadata, source: "test", file: #fileID, function: #function, line: #line)
    }

    static func members(_ line: String) throws -> [String: String] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
    }

    @Test func aJSONLineHasTheFourFixedMembersAndTheMetadata() throws {
        var handler = LineLogHandler(label: "cashier.test", json: true)
        handler[metadataKey: "worker"] = "w1"
        let members = try Self.members(handler.line(for: Self.event("started", ["order_id": "ord_1"], level: .warning), at: Self.date))
        #expect(members == ["ts": "2026-09-21T14:13:20.500Z", "level": "warning", "logger": "cashier.test", "msg": "started", "worker": "w1", "order_id": "ord_1"])
    }

    @Test func aPaymentMethodIsMaskedInJSONMetadataAndMessage() throws {
        let handler = LineLogHandler(label: "cashier.test", json: true)
        let line = handler.line(
            for: Self.event(#"payload {"payment_method":"pm_secret_token_1"}"#, ["payment_method": "pm_secret_token_2"]), at: Self.date)
        #expect(!line.contains("pm_secret_token"), "\(line)")
        let members = try Self.members(line)
        #expect(members["payment_method"] != nil)
    }

    @Test func metadataCannotShadowTheFixedMembers() throws {
        let handler = LineLogHandler(label: "cashier.test", json: true)
        let members = try Self.members(handler.line(for: Self.event("real", ["msg": "forged", "level": "critical"]), at: Self.date))
        #expect(members["msg"] == "real")
        #expect(members["level"] == "info")
    }

    @Test func aTextLineIsTimestampLevelLabelMessageAndSortedMetadata() {
        let handler = LineLogHandler(label: "cashier.test", json: false)
        let line = handler.line(for: Self.event("charged", ["b": "2", "a": "1", "payment_method": "pm_secret_token_3"]), at: Self.date)
        #expect(line.hasPrefix("2026-09-21T14:13:20.500Z info cashier.test: charged a=1 b=2 payment_method="), "\(line)")
        #expect(!line.contains("pm_secret_token_3"), "\(line)")
    }

    @Test func aTextLineWithoutMetadataEndsWithTheMessage() {
        let handler = LineLogHandler(label: "cashier.test", json: false)
        #expect(handler.line(for: Self.event("idle"), at: Self.date) == "2026-09-21T14:13:20.500Z info cashier.test: idle")
    }
}
