import CashierWorker
import Configuration
import Foundation
import Kafka
import Synchronization

/// The effective settings of one run, read through swift-configuration: the environment, then
/// the config file, then (in `cashier dev`) embedded values; a read site's flag wins over all of
/// them and the setting's default comes last. Empty variables count as unset. Built once in
/// `Cashier.main` and handed to the command: nothing is written back to the environment.
struct SettingsReader: Sendable {
    let file: ConfigFile?
    private let environment: [String: String]
    private let reader: ConfigReader
    private let recorder: SourceRecorder
    private let sources: [String: SettingSource]

    init(environment: [String: String], file: ConfigFile? = nil, embedded: [String: String] = [:]) {
        self.environment = environment.filter { !$0.value.isEmpty }
        self.file = file
        let secrets = SecretsSpecifier<String, String>.specific(Set(Settings.all.filter(\.secret).map(\.name)))
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(environmentVariables: self.environment, secretsSpecifier: secrets)]
        var sources = [providers[0].providerName: SettingSource.environment]
        if let file {
            providers.append(Self.provider("config file", file.values))
            sources[providers.last!.providerName] = .file(file.path)
        }
        if !embedded.isEmpty {
            providers.append(Self.provider("embedded", embedded))
            sources[providers.last!.providerName] = .embedded
        }
        self.sources = sources
        recorder = SourceRecorder()
        reader = ConfigReader(providers: providers, accessReporter: recorder)
    }

    /// The same settings with `values` below everything else (`cashier dev`'s sandbox URLs and keys).
    func addingEmbedded(_ values: [String: String]) -> SettingsReader {
        SettingsReader(environment: environment, file: file, embedded: values)
    }

    private static func provider(_ name: String, _ values: [String: String]) -> InMemoryProvider {
        let secret = Set(Settings.all.filter(\.secret).map(\.name))
        return InMemoryProvider(
            name: name,
            values: Dictionary(uniqueKeysWithValues: values.filter { !$0.value.isEmpty }.map { name, value in
                (AbsoluteConfigKey(ConfigKey(setting: name)), ConfigValue(.string(value), isSecret: secret.contains(name)))
            }))
    }

    // MARK: Reading

    /// The setting's text and where it came from; nil when nothing sets it.
    func text(_ setting: some AnySetting) -> (text: String, source: SettingSource)? {
        let key = ConfigKey(setting: setting.name)
        guard let text = reader.string(forKey: key, isSecret: setting.secret) else { return nil }
        return (text, recorder.provider(of: AbsoluteConfigKey(key)).flatMap { sources[$0] } ?? .environment)
    }

    /// The text of each of `settings` that is set, by name.
    func texts(_ settings: [any AnySetting]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: settings.compactMap { setting in text(setting).map { (setting.name, $0.text) } })
    }

    /// The setting's value: its flag, else what the environment or file says (checked), else
    /// the declared default; nil when none of them gives one.
    func optionalValue<Value>(_ setting: Setting<Value>, flag: Value? = nil) throws -> Value? {
        try given(setting, flag: flag) ?? setting.fallback
    }

    /// The value of a setting that always has one: `fallback` stands in for a default that
    /// depends on the command (`cashier dev`'s free port, twice the channel timeout).
    func value<Value>(_ setting: Setting<Value>, flag: Value? = nil, default fallback: Value? = nil) throws -> Value {
        guard let value = try given(setting, flag: flag) ?? fallback ?? setting.fallback else {
            preconditionFailure("\(setting.name) has no default: read it with optionalValue")
        }
        return value
    }

    /// The flag's value (in range), else the checked value of the environment or the file.
    private func given<Value>(_ setting: Setting<Value>, flag: Value?) throws -> Value? {
        if let flag {
            if let range = setting.range, !range.contains(flag) {
                throw CLIError("--\(setting.flag ?? setting.name) \(flag) is out of range; use \(range.lowerBound)...\(range.upperBound)")
            }
            return flag
        }
        guard let found = text(setting) else { return nil }
        if let problem = setting.problem(with: found.text, source: found.source) { throw CLIError(problem) }
        return Value(settingText: found.text)
    }

    // MARK: Checking

    /// Every setting that is set but not valid, one line each (for `cashier config check`).
    var valueProblems: [String] {
        Settings.all.compactMap { setting in text(setting).flatMap { setting.problem(with: $0.text, source: $0.source) } }
    }

    /// `CASHIER_*` variables in the environment that are no Cashier setting (a typo is ignored otherwise).
    var unknownEnvironmentNames: [String] {
        environment.keys.filter { $0.hasPrefix("CASHIER_") && $0 != "CASHIER_CONFIG" && Settings.named($0) == nil }.sorted()
    }
}

/// Remembers which provider answered each key: swift-configuration's access reporting is how a
/// reader tells where a value came from.
private final class SourceRecorder: AccessReporter {
    private let answered = Mutex<[AbsoluteConfigKey: String]>([:])

    func report(_ event: AccessEvent) {
        let provider = event.providerResults.first { result in
            if case .success(let lookup) = result.result { return lookup.value != nil }
            return false
        }?.providerName
        answered.withLock { $0[event.metadata.key] = provider }
    }

    func provider(of key: AbsoluteConfigKey) -> String? { answered.withLock { $0[key] } }
}
