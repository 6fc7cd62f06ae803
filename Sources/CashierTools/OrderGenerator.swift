public import CashierCore

/// Makes the orders `cashier publish` sends: valid ones with a realistic mix of currencies,
/// discounts and channel behaviour, and deliberately invalid ones of every kind the worker
/// must reject.
public struct OrderGenerator {
    public let runID: String
    public let channel: String
    public let faults: FaultMix
    private var random = SystemRandomNumberGenerator()

    public init(runID: String, channel: String, faults: FaultMix) {
        self.runID = runID
        self.channel = channel
        self.faults = faults
    }

    private static let currencies: [Currency] = [.cny, .cny, .cny, .cny, .usd, .eur, .hkd, .jpy, .krw, .kwd]
    private static let discounts = ["0", "0", "0.1", "0.15", "0.25", "0.333"]

    public mutating func valid(_ index: Int, nowMilliseconds: Int64) -> OrderCreated {
        let channel: Channel =
            switch self.channel {
            case "mixed": Channel.allCases[index % Channel.allCases.count]
            default: Channel(rawValue: self.channel) ?? .card
            }
        let roll = Double.random(in: 0..<1, using: &random)
        let cardMethod =
            if roll < faults.decline { index % 2 == 0 ? "pm_card_chargeDeclined" : "pm_card_chargeDeclinedInsufficientFunds" }
            else if roll < faults.decline + faults.transient { "pm_sandbox_flaky_2" }
            else if roll < faults.total { "pm_sandbox_unavailable" }
            else { "pm_card_visa" }
        let paymentMethod: String =
            switch channel {
            case .card: cardMethod
            case .alipay: "20215606000000000\(index % 10)"
            case .wechat: "wx_contract_\(index % 100)"
            }
        return OrderCreated(
            eventID: "evt_\(runID)_\(index)", orderID: orderID(index), userID: "u_\(index % 977)",
            itemID: "course_\(index % 31)", price: Int64.random(in: 100...200_000, using: &random),
            // Alipay withholding and WeChat Pay deductions charge CNY only.
            currency: channel == .card ? Self.currencies.randomElement(using: &random)! : .cny,
            discount: try! DiscountRatio(parsing: Self.discounts.randomElement(using: &random)!),
            channel: channel, paymentMethod: paymentMethod,
            createdAt: Timestamp.rfc3339(millisecondsSinceEpoch: nowMilliseconds))
    }

    public func orderID(_ index: Int) -> String { "ord_\(runID)_\(index)" }

    /// The k-th invalid event. Kinds cycle so every rejection path is exercised; the returned
    /// order id is nil when the event carries none that the worker could read.
    public func invalid(_ k: Int) -> (bytes: [UInt8], orderID: String?, kind: String) {
        let id = "ord_\(runID)_bad\(k)"
        func event(_ fields: String) -> [UInt8] {
            Array(#"{"event_id":"evt_\#(runID)_bad\#(k)","order_id":"\#(id)","user_id":"u_1","item_id":"course_1",\#(fields)}"#.utf8)
        }
        let valid = #""price":10000,"currency":"CNY","discount":"0.10","channel":"card","payment_method":"pm_card_visa""#
        switch k % 12 {
        case 0: return (Array("this is not json".utf8), nil, "not JSON")
        case 1: return (Array(#"{"event_id":"evt_x","order_id":"\#(id)","price":100"#.utf8), nil, "truncated JSON")
        case 2: return (event(#""price":"10000","currency":"CNY","channel":"card","payment_method":"pm_card_visa""#), id, "price as string")
        case 3: return (event(#""price":10000,"channel":"card","payment_method":"pm_card_visa""#), id, "missing currency")
        case 4: return (event(#""price":10000,"currency":"XYZ","channel":"card","payment_method":"pm_card_visa""#), id, "unknown currency")
        case 5: return (event(#""price":10000,"currency":"CNY","channel":"paypal","payment_method":"pm_card_visa""#), id, "unknown channel")
        case 6: return (event(#""price":-5,"currency":"CNY","channel":"card","payment_method":"pm_card_visa""#), id, "negative price")
        case 7: return (event(#""price":10000,"currency":"CNY","discount":"1.5","channel":"card","payment_method":"pm_card_visa""#), id, "discount ≥ 1")
        case 8: return (event(#""price":1,"currency":"JPY","discount":"0.9","channel":"card","payment_method":"pm_card_visa""#), id, "amount rounds to 0")
        case 9:
            let bad = Array(#"{"event_id":"evt_bad","order_id":"bad id!","user_id":"u","item_id":"i",\#(valid)}"#.utf8)
            return (bad, nil, "invalid order_id")
        case 10: return (Array("[1,2,3]".utf8), nil, "not an object")
        default:
            let padding = String(repeating: "x", count: 70_000)
            return (event(valid + #","note":"\#(padding)""#), nil, "larger than 64 KiB")
        }
    }
}
