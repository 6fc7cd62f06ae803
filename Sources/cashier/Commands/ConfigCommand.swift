import ArgumentParser
import CashierOps
import Foundation

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Inspect the configuration.", subcommands: [ConfigCheckCommand.self])
}

struct ConfigCheckCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Print the effective configuration (secrets masked) and check it: one line per problem.",
        discussion: """
            Settings come from flags, then the environment, then --config FILE (NAME=value lines, the same names), then \
            defaults. Lists every setting with its value and where it came from. Exits 1 when anything is wrong, after listing \
            every problem, one line each. Key files are loaded, so a bad key shows here.
            """)

    func run(with settings: SettingsReader) async throws {
        var rows: [[String]] = [["SETTING", "VALUE", "FROM"]]
        for setting in Settings.all {
            if let found = settings.text(setting) {
                rows.append([setting.name, setting.shown(found.text), found.source.label])
            } else {
                rows.append([setting.name, setting.defaultDescription ?? "-", SettingSource.default.label])
            }
        }
        Output.line(settings.file.map { "config file: \($0.path)" } ?? "config file: none (--config FILE or CASHIER_CONFIG)")
        Output.line(TextFormat.columns(rows))

        // Every problem once, in order: the file's lines, each bad value, then what only a whole
        // group of settings shows (a channel missing its key, retry max below base).
        var problems = (settings.file?.problems ?? []) + settings.valueProblems
        func check(_ body: () throws -> Void) {
            do { try body() } catch { if !problems.contains("\(error)") { problems.append("\(error)") } }
        }
        check { problems.append(contentsOf: try KafkaOptions.parse([]).problems(settings).filter { !problems.contains($0) }) }
        check { _ = try KafkaOptions.parse([]).topics(settings) }
        check { _ = try DatabaseOptions.parse([]).resolve(settings) }
        check { _ = try ChannelOptions.parse([]).resolve(settings) }
        check { _ = try RetryOptions.parse([]).policy(settings) }
        check { _ = try RetryOptions.parse([]).lookupPolicy(settings, channelTimeout: .seconds(10)) }
        Output.line("")
        for name in settings.unknownEnvironmentNames {
            FileHandle.standardError.write(Data("note: \(name) in the environment is not a Cashier setting (ignored)\n".utf8))
        }
        if problems.isEmpty {
            Output.line("configuration OK")
        } else {
            for problem in problems { FileHandle.standardError.write(Data("problem: \(problem)\n".utf8)) }
            throw ExitCode(1)
        }
    }
}
