/// An ISO 4217 currency that Cashier accepts, with its minor-unit exponent.
///
/// The set is closed on purpose: a currency whose exponent we do not know cannot be charged
/// exactly, so an event naming one is rejected rather than guessed at.
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    /// The upper-case ISO 4217 code, e.g. `CNY`.
    public let code: String
    /// Digits after the decimal point in the major unit: 2 for CNY (fen), 0 for JPY, 3 for KWD.
    public let minorUnits: Int

    private init(_ code: String, _ minorUnits: Int) {
        self.code = code
        self.minorUnits = minorUnits
    }

    public static let cny = Currency("CNY", 2)
    public static let usd = Currency("USD", 2)
    public static let eur = Currency("EUR", 2)
    public static let hkd = Currency("HKD", 2)
    public static let jpy = Currency("JPY", 0)
    public static let krw = Currency("KRW", 0)
    public static let kwd = Currency("KWD", 3)

    public static let supported: [Currency] = [.cny, .usd, .eur, .hkd, .jpy, .krw, .kwd]

    /// The supported currency with this exact (upper-case) code, or nil.
    public init?(code: String) {
        guard let match = Self.supported.first(where: { $0.code == code }) else { return nil }
        self = match
    }

    public var description: String { code }

    /// Formats an amount in minor units as a major-unit decimal string: 9000 CNY → `"90.00"`.
    public func majorUnitString(_ minor: Int64) -> String {
        precondition(minor >= 0, "amounts are never negative")
        guard minorUnits > 0 else { return String(minor) }
        let fraction = String(minor % minorPerMajor)
        return "\(minor / minorPerMajor)." + String(repeating: "0", count: minorUnits - fraction.count) + fraction
    }

    /// Minor units in one major unit: 100 for CNY, 1 for JPY, 1000 for KWD.
    private var minorPerMajor: Int64 {
        var scale: Int64 = 1
        for _ in 0..<minorUnits { scale *= 10 }
        return scale
    }

    /// Reads a major-unit decimal string back into minor units, exactly: `"90.00"`, `"90.0"` and
    /// `"90"` are 9000 CNY. Nil for anything else — a sign, an exponent, spaces, more decimals
    /// than the currency has, or an amount beyond 10^15 minor units — so a channel's figure is
    /// either read exactly or not believed.
    public func minorAmount(fromMajorUnitString text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !whole.isEmpty, whole.count <= 15, whole.allSatisfy(\.isASCIIDigit), fraction.allSatisfy(\.isASCIIDigit),
            parts.count == 1 || !fraction.isEmpty, fraction.count <= minorUnits
        else { return nil }
        let padded = fraction + String(repeating: "0", count: minorUnits - fraction.count)
        guard let major = Int64(whole), let minor = Int64(padded.isEmpty ? "0" : padded) else { return nil }
        // At most 15 digits times at most 1000: far inside Int64.
        let amount = major * minorPerMajor + minor
        return amount <= 1_000_000_000_000_000 ? amount : nil
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { asciiValue.map { (48...57).contains($0) } ?? false }
}
