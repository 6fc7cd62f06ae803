import CashierCore
import CashierOps
import Foundation
import Testing
@testable import CashierStore

/// The operators' output of `cashier stats` and `cashier dlq`: columns, rates, amounts, nulls.
@Suite struct RendererTests {
    static let since = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func columnsAreLeftAlignedTwoSpacesApartWithoutTrailingPadding() {
        let text = TextFormat.columns([["ID", "ORDER", "X"], ["1234", "o", "y"]], indent: "  ")
        #expect(text == "  ID    ORDER  X\n  1234  o      y")
    }

    @Test func timestampsAreRFC3339ToTheMillisecond() {
        #expect(TextFormat.timestamp(Date(timeIntervalSince1970: 1_790_000_000.25)) == "2026-09-21T14:13:20.250Z")
    }

    @Test func theStatsTableShowsRatesOverSettledPaymentsAndAmountsInMajorUnits() {
        let channels = [
            StatsStore.ChannelFigures(channel: "card", succeeded: 15, failed: 1, pending: 2),
            StatsStore.ChannelFigures(channel: "wechat", succeeded: 0, failed: 0, pending: 4),
        ]
        let currencies = [StatsStore.CurrencyFigures(currency: "CNY", payments: 15, amount: 123_456)]
        let table = StatsFormat.table(channels, currencies, 3, since: Self.since)
        #expect(table == """
            since 2026-09-21T14:13:20.000Z
            CHANNEL  SETTLED  SUCCEEDED  FAILED  SUCCESS RATE  FAILURE RATE  IN PROGRESS
            card     16       15         1       93.8%         6.2%          2
            wechat   0        0          0       -             -             4

            CURRENCY  PAYMENTS  AMOUNT
            CNY       15        1234.56

            rejected events: 3
            """)
    }

    @Test func theStatsTableSaysSoWhenNothingSucceeded() {
        #expect(StatsFormat.table([], [], 0, since: Self.since).contains("\nno succeeded payments\n"))
    }

    @Test func statsJSONHasFourPlaceRatesAndNullWhenNothingSettled() throws {
        let channels = [
            StatsStore.ChannelFigures(channel: "card", succeeded: 15, failed: 1, pending: 2),
            StatsStore.ChannelFigures(channel: "alipay", succeeded: 0, failed: 0, pending: 1),
        ]
        let json = StatsFormat.json(channels, [StatsStore.CurrencyFigures(currency: "XYZ", payments: 1, amount: 5)], 0, since: Self.since)
        #expect(json.contains(#""success_rate":0.9375"#), "\(json)")
        #expect(json.contains(#""failure_rate":0.0625"#), "\(json)")
        #expect(json.contains(#""success_rate":null"#), "\(json)")
        // A currency the core does not know is shown in minor units.
        #expect(json.contains(#""amount":"5 (minor units)""#), "\(json)")
        let document = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(document["since"] as? String == "2026-09-21T14:13:20.000Z")
        #expect(document["rejected"] as? Int == 0)
    }

    static func letter(id: Int64 = 7, orderID: String? = "ord_1", message: String = "the channel failed 6 times") -> DeadLetter {
        DeadLetter(
            id: id, orderID: orderID, paymentID: orderID.map { "pay_\($0)" }, channel: orderID == nil ? nil : "card",
            reason: Reason(code: "retries_exhausted", message: message), attempts: 6, status: .open, createdAt: since, updatedAt: since,
            source: .init(topic: "orders.created", partition: 2, offset: 40), payload: #"{"order_id":"ord_1"}"#)
    }

    @Test func theDeadLetterTableHasOneRowPerLetterAndACount() {
        let table = DeadLetterFormat.table([Self.letter(), Self.letter(id: 8, orderID: nil, message: String(repeating: "m", count: 100))])
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("ID  ORDER  CHANNEL  ATTEMPTS  STATUS  CREATED"))
        #expect(lines[1].hasPrefix("7   ord_1  card     6         open    2026-09-21T14:13:20.000Z  retries_exhausted: the channel failed 6 times"))
        // Unknown order and channel are "-"; a long reason is clipped to 80 characters.
        #expect(lines[2].hasPrefix("8   -      -  "))
        #expect(lines[2].hasSuffix("retries_exhausted: " + String(repeating: "m", count: 79) + "…"))
        #expect(lines[3] == "2 dead letters")
        #expect(DeadLetterFormat.table([Self.letter()]).hasSuffix("\n1 dead letter"))
        #expect(DeadLetterFormat.table([]) == "no dead letters match")
    }

    @Test func deadLetterJSONWritesUnknownsAsNull() throws {
        let json = DeadLetterFormat.json([Self.letter(orderID: nil)])
        #expect(json.contains(#""order_id":null"#), "\(json)")
        #expect(json.contains(#""payment_id":null"#), "\(json)")
        #expect(json.contains(#""channel":null"#), "\(json)")
        let array = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(array.first?["created_at"] as? String == "2026-09-21T14:13:20.000Z")
        #expect((array.first?["source"] as? [String: Any])?["offset"] as? Int == 40)
    }

    @Test func theDeadLetterDetailShowsTheLetterWithoutPaymentAttemptsOrActions() {
        let detail = DeadLetterFormat.detail(Self.letter(), payment: nil, attempts: [], actions: [])
        #expect(detail == """
            dead letter 7  [open]
              order:     ord_1   channel: card
              reason:    retries_exhausted: the channel failed 6 times
              source:    orders.created partition 2 offset 40
              created:   2026-09-21T14:13:20.000Z   updated: 2026-09-21T14:13:20.000Z
              event:     {"order_id":"ord_1"}
            """)
    }
}
