/// The payment channels Cashier can charge through.
public enum Channel: String, Sendable, CaseIterable, Hashable {
    case card
    case alipay
    case wechat
}
