/// A configuration or usage problem: printed as one line (`Error: …`) with a non-zero exit,
/// before any work starts. The message names the setting and how to fix it.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
