/// The payment channels Cashier can charge through.
public enum Channel: String, Sendable, CaseIterable, Hashable, Codable {
    case card
    case alipay
    case wechat
}
