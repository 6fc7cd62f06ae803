/// The platform's pricing rule: **amount = price × (1 − discount)**, rounded half-up to an
/// integer number of minor units.
///
/// Computed in 128-bit integers: price ≤ 10^12 and 10^scale ≤ 10^18, so every intermediate
/// value stays below 10^31, far inside `UInt128`.
public enum Pricing {
    public static let maxPrice: Int64 = 1_000_000_000_000

    /// The amount to charge, in minor units. Never negative; may be 0 (the caller rejects that).
    public static func amount(price: Int64, discount: DiscountRatio) -> Int64 {
        precondition(price >= 0 && price <= maxPrice, "price is validated before pricing")
        var denominator: UInt128 = 1
        for _ in 0..<discount.scale { denominator *= 10 }
        let kept = denominator - UInt128(discount.numerator)
        let scaled = UInt128(price) * kept
        // Half-up: add one half of the denominator before truncating. Everything is
        // non-negative here, so "half-up" and "half away from zero" coincide.
        let rounded = (scaled + denominator / 2) / denominator
        return Int64(rounded)
    }
}
