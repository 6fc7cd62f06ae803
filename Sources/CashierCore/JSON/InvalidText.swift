/// Messages for strings that cannot be kept as text (reason code `invalid_text`): they name the
/// field and say what is wrong, and never repeat the value.
public enum InvalidText {
    /// A string holding U+0000, which Postgres `text` cannot store.
    public static func nul(field: String) -> String {
        "field \"\(field.echoed(limit: 64))\" contains a NUL character (U+0000), which cannot be stored; send text without it"
    }

    /// A string holding a `\u` escape of an unpaired UTF-16 surrogate (an `invalidText` parse failure).
    public static func unpairedSurrogate(_ failure: JSONParser.Failure) -> String {
        let place =
            if failure.inMemberName {
                "a member name" + (failure.field.map { " inside field \"\($0)\"" } ?? "")
            } else {
                failure.field.map { "field \"\($0)\"" } ?? "the document's string"
            }
        return "\(place) contains a \\u escape of an unpaired UTF-16 surrogate (U+D800 to U+DFFF outside a high-low pair), which is not Unicode text; escape characters outside the BMP as a high-low pair"
    }
}
