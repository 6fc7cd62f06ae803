import Foundation

/// `--config FILE` (or `CASHIER_CONFIG`): the same `CASHIER_*` settings as the environment, one
/// `NAME=value` per line (`#` comments, blank lines allowed; values may be quoted). It sits below
/// flags and the environment, so a Kubernetes Secret in the environment overrides a
/// ConfigMap-mounted file (`SettingsReader`).
///
/// Parsed here rather than by swift-configuration's `.env` reader: that one skips a malformed
/// line silently and keeps quotes, while a config file's every bad line must be one problem.
struct ConfigFile: Sendable {
    let path: String
    /// The settings it gives, by name.
    let values: [String: String]
    /// One line per bad line or unknown name, naming the file, the line and the fix.
    let problems: [String]

    /// Reads and parses the file; only an unreadable file throws.
    init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError("cannot read the config file \(path); check the path and its permissions")
        }
        self.init(path: path, text: text)
    }

    init(path: String, text: String) {
        self.path = path
        var values: [String: String] = [:]
        var problems: [String] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex,
                line[..<equals].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" })
            else {
                problems.append("\(path) line \(number + 1) is not NAME=value; write e.g. CASHIER_KAFKA_BROKERS=kafka-1:9092")
                continue
            }
            let name = String(line[..<equals])
            guard Settings.named(name) != nil else {
                problems.append("\(path) line \(number + 1): \(name) is not a Cashier setting; see `cashier config check`")
                continue
            }
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" { value = String(value.dropFirst().dropLast()) }
            values[name] = value
        }
        self.values = values
        self.problems = problems
    }

    /// The file's settings, or its first problem as one line (and how many more there are).
    func checkedValues() throws -> [String: String] {
        guard let first = problems.first else { return values }
        throw CLIError(problems.count == 1 ? first : "\(first) (and \(problems.count - 1) more; see `cashier config check --config \(path)`)")
    }

    /// Takes `--config FILE` / `--config=FILE` out of the arguments; the flag wins over `CASHIER_CONFIG`.
    static func path(taking arguments: inout [String], environment: [String: String]) throws -> String? {
        var file = environment["CASHIER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--config" {
                guard index + 1 < arguments.count else { throw CLIError("--config needs a file: --config /etc/cashier/cashier.conf") }
                file = arguments[index + 1]
                arguments.removeSubrange(index...(index + 1))
            } else if argument.hasPrefix("--config=") {
                file = String(argument.dropFirst("--config=".count))
                arguments.remove(at: index)
            } else {
                index += 1
            }
        }
        return file
    }
}
