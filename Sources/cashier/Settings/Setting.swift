import ArgumentParser
import Configuration

/// One Cashier setting, declared once: its `CASHIER_*` name (the environment variable and the
/// config-file name), the flag that wins over it, its type, default, whether it is a secret,
/// and its help. Flag help, the read sites and `cashier config check` all use this declaration.
struct Setting<Value: SettingValue>: Sendable {
    /// The environment variable and config-file name, e.g. `CASHIER_HTTP_PORT`.
    let name: String
    /// The flag that wins over the environment and the file, e.g. `--http-port` (never for a secret:
    /// flags show up in process listings).
    let flag: String?
    /// The value when nothing sets it; nil when there is none or it depends on the command.
    let fallback: Value?
    /// How the default reads when it is not one fixed value (`cashier-payments / cashier-retry`).
    let fallbackText: String?
    let range: ClosedRange<Value>?
    /// For text settings: the values accepted.
    let choices: [String]?
    /// A command that needs it refuses to start without it.
    let required: Bool
    let secret: Bool
    let help: String

    init(
        _ name: String, flag: String? = nil, default fallback: Value? = nil, defaultText: String? = nil, range: ClosedRange<Value>? = nil,
        choices: [String]? = nil, required: Bool = false, secret: Bool = false, help: String
    ) {
        self.required = required
        self.name = name
        self.flag = flag
        self.fallback = fallback
        self.fallbackText = defaultText
        self.range = range
        self.choices = choices
        self.secret = secret
        self.help = help
    }
}

/// What a setting can hold: text and numbers, read from their text form.
protocol SettingValue: Comparable, Sendable, CustomStringConvertible {
    init?(settingText: String)
    /// How a problem names the expected form ("a whole number").
    static var kind: String { get }
}

extension String: SettingValue {
    init?(settingText: String) { self = settingText }
    static var kind: String { "text" }
}

extension Int: SettingValue {
    init?(settingText: String) { self.init(settingText) }
    static var kind: String { "a whole number" }
}

extension Double: SettingValue {
    init?(settingText: String) { self.init(settingText) }
    static var kind: String { "a number" }
}

/// A setting whatever its type, for the catalog and `cashier config check`.
protocol AnySetting: Sendable {
    var name: String { get }
    var flag: String? { get }
    var secret: Bool { get }
    var help: String { get }
    /// The default as `config check` and flag help show it; nil when there is none.
    var defaultDescription: String? { get }
    /// Why `text` is not a valid value, as one line naming the setting and the fix; nil when it is.
    func problem(with text: String, source: SettingSource) -> String?
}

extension Setting: AnySetting {
    var defaultDescription: String? { required ? "(required)" : fallbackText ?? fallback.map(\.description) }

    func problem(with text: String, source: SettingSource) -> String? {
        // A secret's value is never shown, not even a wrong one.
        let given = "\(name)=\"\(secret ? "***" : String(text.prefix(60)))\"" + (source.place.map { " in \($0)" } ?? "")
        if let choices, !choices.contains(text) {
            return "\(given) is not one of \(choices.joined(separator: ", ")); fix or unset it"
        }
        if let value = Value(settingText: text), range?.contains(value) ?? true { return nil }
        return "\(given) is not \(Value.kind)\(range.map { " in \($0.lowerBound)...\($0.upperBound)" } ?? ""); fix or unset it"
    }

    /// The flag's help: what it does, the variable it overrides and the default.
    var flagHelp: ArgumentHelp { flagHelp() }

    /// `default`: the command's own default where it has one (`cashier retry-worker`'s group).
    func flagHelp(valueName: String? = nil, default commandDefault: String? = nil) -> ArgumentHelp {
        var notes = ["env \(name)"]
        if required {
            notes.append("required")
        } else if let fallback = commandDefault ?? defaultDescription {
            notes.append("default \(fallback)")
        }
        return ArgumentHelp("\(help) (\(notes.joined(separator: ", "))).", valueName: valueName)
    }
}

extension ConfigKey {
    /// Where swift-configuration looks a setting up: `CASHIER_HTTP_PORT` is `cashier.http.port`,
    /// which its environment provider encodes back to `CASHIER_HTTP_PORT`.
    init(setting name: String) {
        self.init(name.lowercased().split(separator: "_").map(String.init))
    }
}

/// Where a setting's effective value came from, when no flag gave it.
enum SettingSource: Sendable, Equatable {
    case environment
    case file(String)
    /// `cashier dev`'s own values (the sandbox's URLs and development keys).
    case embedded
    case `default`

    /// How `config check` names it.
    var label: String {
        switch self {
        case .environment: "environment"
        case .file: "file"
        case .embedded: "embedded"
        case .default: "default"
        }
    }

    /// How a problem names it after the setting (`CASHIER_X in /etc/cashier.conf`); nil for the environment.
    var place: String? {
        if case .file(let path) = self { return path }
        return nil
    }
}
