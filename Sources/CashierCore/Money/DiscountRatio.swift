/// A discount ratio `0 ≤ d < 1` held as an exact decimal fraction `numerator / 10^scale`.
///
/// Parsed from decimal text only (a JSON number is read as its source text), so `"0.1"` is
/// exactly one tenth: no binary floating point ever touches money (DESIGN.md invariant 3).
public struct DiscountRatio: Sendable, Hashable, CustomStringConvertible {
    /// The digits after the point, as an integer: `0.125` → 125.
    public let numerator: UInt64
    /// The number of digits after the point once trailing zeros are dropped: `0.125` → 3.
    public let scale: Int

    /// More fractional digits than this cannot change an amount of at most 10^12 minor units
    /// by a visible amount and would overflow the exact arithmetic, so they are refused.
    public static let maxScale = 18

    public static let zero = DiscountRatio(numerator: 0, scale: 0)

    private init(numerator: UInt64, scale: Int) {
        self.numerator = numerator
        self.scale = scale
    }

    public enum ParseError: Error, Equatable {
        case notADecimal
        case outOfRange
        case tooPrecise
    }

    /// Parses `"0"`, `"0.1"`, `"0.10"`, `".5"`-free canonical decimal text in `[0, 1)`.
    /// Exponents (`1e-1`) and signs are refused: they are not how prices are written.
    public init(parsing text: String) throws(ParseError) {
        let utf8 = Array(text.utf8)
        guard let first = utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            throw text.hasPrefix("-") ? .outOfRange : .notADecimal
        }
        var integerDigits: [UInt8] = []
        var fractionDigits: [UInt8] = []
        var seenPoint = false
        for byte in utf8 {
            if byte == UInt8(ascii: ".") {
                guard !seenPoint else { throw .notADecimal }
                seenPoint = true
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                if seenPoint { fractionDigits.append(byte) } else { integerDigits.append(byte) }
            } else {
                throw .notADecimal
            }
        }
        if seenPoint && fractionDigits.isEmpty { throw .notADecimal }
        // The integer part must be zero: any other value is a ratio of 1 or more.
        guard integerDigits.allSatisfy({ $0 == UInt8(ascii: "0") }) else { throw .outOfRange }
        while fractionDigits.last == UInt8(ascii: "0") { fractionDigits.removeLast() }
        guard fractionDigits.count <= Self.maxScale else { throw .tooPrecise }
        var numerator: UInt64 = 0
        for digit in fractionDigits { numerator = numerator * 10 + UInt64(digit - UInt8(ascii: "0")) }
        self.init(numerator: numerator, scale: fractionDigits.count)
    }

    /// The canonical text: `"0"` or `"0.` followed by the significant digits.
    public var description: String {
        guard scale > 0 else { return "0" }
        let digits = String(numerator)
        return "0." + String(repeating: "0", count: scale - digits.count) + digits
    }
}
