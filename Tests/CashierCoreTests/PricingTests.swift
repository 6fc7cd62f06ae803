import Testing
@testable import CashierCore

@Suite struct PricingTests {
    @Test func appliesThePlatformExample() throws {
        #expect(Pricing.amount(price: 10000, discount: try DiscountRatio(parsing: "0.1")) == 9000)
    }

    @Test(arguments: [
        // price, discount, expected amount (minor units), why
        (10000, "0", 10000),
        (10000, "0.10", 9000),
        (999, "0.5", 500),        // 499.5 rounds half up
        (999, "0.333", 666),      // 666.333 rounds down
        (1, "0.5", 1),            // 0.5 rounds half up to 1
        (1, "0.6", 0),            // 0.4 rounds to 0 (rejected by validation)
        (3, "0.5", 2),            // 1.5 → 2
        (5, "0.1", 5),            // 4.5 → 5
        (1_000_000_000_000, "0.999999999999999999", 0), // 0.000001 → 0
        (1_000_000_000_000, "0.000000000000000001", 1_000_000_000_000),
        (123_456_789, "0.125", 108_024_690), // 108024690.375
    ])
    func roundsHalfUpToMinorUnits(price: Int64, discount: String, expected: Int64) throws {
        #expect(Pricing.amount(price: price, discount: try DiscountRatio(parsing: discount)) == expected)
    }

    @Test func neverExceedsThePriceAndIsExactForRandomInputs() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let price = Int64.random(in: 1...Pricing.maxPrice, using: &generator)
            let scale = Int.random(in: 0...6, using: &generator)
            var denominator: Int64 = 1
            for _ in 0..<scale { denominator *= 10 }
            let numerator = Int64.random(in: 0..<denominator, using: &generator)
            let text = scale == 0 ? "0" : "0." + String(String(numerator).reversed()).padding(toLength: scale, withPad: "0", startingAt: 0).reversed()
            let discount = try DiscountRatio(parsing: String(text))
            let amount = Pricing.amount(price: price, discount: discount)
            // Exact reference in 128-bit integers: |amount·d − price·(d − n)| ≤ d/2.
            let exact = Int128(price) * Int128(denominator - numerator)
            let difference = Int128(amount) * Int128(denominator) - exact
            #expect(amount <= price)
            #expect(difference * 2 <= Int128(denominator) && difference * 2 > -Int128(denominator))
        }
    }
}

@Suite struct DiscountRatioTests {
    @Test(arguments: ["0", "0.0", "0.1", "0.10", "0.999", "00.5", "0.000000000000000001"])
    func acceptsDecimalRatiosBelowOne(_ text: String) throws {
        _ = try DiscountRatio(parsing: text)
    }

    @Test func normalisesTrailingZeros() throws {
        #expect(try DiscountRatio(parsing: "0.10") == DiscountRatio(parsing: "0.1"))
        #expect(try DiscountRatio(parsing: "0.10").description == "0.1")
        #expect(try DiscountRatio(parsing: "0.0").description == "0")
    }

    @Test(arguments: [
        ("1", DiscountRatio.ParseError.outOfRange), ("1.0", .outOfRange), ("-0.1", .outOfRange), ("2.5", .outOfRange),
        ("", .notADecimal), (".5", .notADecimal), ("0.", .notADecimal), ("1e-1", .notADecimal), ("0.1.2", .notADecimal),
        ("abc", .notADecimal), (" 0.1", .notADecimal), ("0.1234567890123456789", .tooPrecise),
    ])
    func refusesAnythingElse(_ text: String, _ error: DiscountRatio.ParseError) {
        #expect(throws: error) { try DiscountRatio(parsing: text) }
    }
}

@Suite struct CurrencyTests {
    @Test func knowsTheMinorUnitsOfEverySupportedCurrency() {
        let units = Dictionary(uniqueKeysWithValues: Currency.supported.map { ($0.code, $0.minorUnits) })
        #expect(units == ["CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0, "KRW": 0, "KWD": 3])
    }

    @Test func refusesUnknownAndLowercaseCodes() {
        #expect(Currency(code: "XYZ") == nil)
        #expect(Currency(code: "cny") == nil)
    }

    @Test func formatsMajorUnits() {
        #expect(Currency.cny.majorUnitString(9000) == "90.00")
        #expect(Currency.cny.majorUnitString(5) == "0.05")
        #expect(Currency.jpy.majorUnitString(1234) == "1234")
        #expect(Currency.kwd.majorUnitString(1001) == "1.001")
    }
}
