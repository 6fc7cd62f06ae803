import ArgumentParser
import Foundation

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Inspect the configuration.", subcommands: [ConfigCheckCommand.self])
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Print the effective configuration (secrets masked) and check it: one line per problem.",
        discussion: """
            Settings come from flags, then the environment, then --config FILE (NAME=value lines, the same names), then \
            defaults. Exits 1 when anything is wrong, after listing every problem. Key files are loaded, so a bad key shows here.
            """)

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var rows: [[String]] = [["SETTING", "VALUE", "FROM"]]
        for setting in Settings.known {
            let source: String
            let value: String
            if let fromFile = ConfigFile.loaded[setting.name], environment[setting.name] == fromFile {
                (value, source) = (Settings.masked(setting, fromFile), "file")
            } else if let fromEnvironment = environment[setting.name], !fromEnvironment.isEmpty {
                (value, source) = (Settings.masked(setting, fromEnvironment), "environment")
            } else {
                (value, source) = (setting.fallback.isEmpty ? "-" : setting.fallback, "default")
            }
            rows.append([setting.name, value, source])
        }
        Output.line(ConfigFile.path.map { "config file: \($0)" } ?? "config file: none (--config FILE or CASHIER_CONFIG)")
        Output.line(TextFormat.columns(rows))

        var problems: [String] = []
        func check(_ body: () throws -> Void) {
            do { try body() } catch { problems.append("\(error)") }
        }
        check { problems.append(contentsOf: try KafkaOptions.parse([]).problems()) }
        check { _ = try DatabaseOptions.parse([]).resolve() }
        check { _ = try ChannelOptions.parse([]).resolve() }
        check { _ = try RetryOptions.parse([]).policy() }
        check { _ = try HTTPOptions.parse([]).port() }
        Output.line("")
        if problems.isEmpty {
            Output.line("configuration OK")
        } else {
            for problem in problems { FileHandle.standardError.write(Data("problem: \(problem)\n".utf8)) }
            throw ExitCode(1)
        }
    }
}
