extension String {
    /// This text made safe to quote inside a message that is stored, published or logged
    /// (rejection reasons, parser failures): at most `limit` Unicode scalars of it, an ellipsis
    /// marking a cut, with every control, format or line-separator character (U+0000 among them,
    /// which Postgres `text` cannot hold), `"` and `\` written as a `\u{…}` escape.
    ///
    /// Use it for every value taken from an input that a message repeats; a message must still
    /// never repeat a secret or a saved credential, sanitised or not.
    public func echoed(limit: Int) -> String {
        var result = ""
        var count = 0
        for scalar in unicodeScalars {
            guard count < limit else {
                result += "…"
                break
            }
            count += 1
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
                result += Self.escape(scalar)
            default:
                if scalar == "\"" || scalar == "\\" {
                    result += Self.escape(scalar)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
    }

    /// Whether the text holds U+0000, which Postgres `text` cannot store.
    public var containsNUL: Bool { unicodeScalars.contains("\u{0}") }
}
