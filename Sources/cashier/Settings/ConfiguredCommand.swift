import ArgumentParser
import Foundation

/// A subcommand that runs with the settings `Cashier.main` read once (flags come with the
/// command itself).
protocol ConfiguredCommand: AsyncParsableCommand {
    func run(with settings: SettingsReader) async throws
}

extension ConfiguredCommand {
    /// Only for a command run outside `Cashier.main`: the environment alone, no config file.
    func run() async throws {
        try await run(with: SettingsReader(environment: ProcessInfo.processInfo.environment))
    }
}
