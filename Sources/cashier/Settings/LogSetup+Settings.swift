import CashierOps
import Logging

extension LogSetup {
    /// Level from `Settings.logLevel`, default info. Format from `Settings.logFormat` (`json` or
    /// `text`); unset, `LogSetup` chooses by whether stderr is a terminal.
    static func bootstrap(_ settings: SettingsReader) throws {
        let level = try Logger.Level(rawValue: settings.value(Settings.logLevel)) ?? .info
        let json = try settings.optionalValue(Settings.logFormat).map { $0 == "json" }
        bootstrap(level: level, json: json)
    }
}
