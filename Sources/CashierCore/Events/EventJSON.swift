public import Foundation

/// The one way Cashier writes JSON: Foundation's `JSONEncoder`, compact, keys sorted, `/` left
/// unescaped.
///
/// Sorted keys make the bytes a function of the value alone, so an event encoded twice (a
/// result re-derived from its row, a republication) is byte-identical; field names, enum
/// strings and integer amounts are whatever the types' `CodingKeys` and properties say.
public enum EventJSON {
    /// Compact, sorted JSON text of `value`.
    public static func text(_ value: some Encodable) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    /// Compact, sorted UTF-8 JSON of `value`.
    public static func bytes(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch {
            // Cashier's documents hold strings, integers, exact decimals and nulls only: nothing
            // JSONEncoder can refuse. Reaching this is a bug in a type's `encode(to:)`.
            preconditionFailure("JSONEncoder refused a \(type(of: value)): \(error)")
        }
    }
}
