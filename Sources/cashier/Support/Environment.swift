import Foundation

/// Reads `CASHIER_*` variables. Flags win over the environment: callers pass the flag first.
enum Env {
    static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    static func int(_ flag: Int?, _ name: String, default fallback: Int, range: ClosedRange<Int>, flagName: String) throws -> Int {
        try number(flag, name, default: fallback, range: range, flagName: flagName, kind: "a whole number")
    }

    static func double(_ flag: Double?, _ name: String, default fallback: Double, range: ClosedRange<Double>, flagName: String) throws -> Double {
        try number(flag, name, default: fallback, range: range, flagName: flagName, kind: "a number")
    }

    /// A number from its flag, else its variable, else the default; out of range is an error.
    private static func number<T: LosslessStringConvertible & Comparable>(
        _ flag: T?, _ name: String, default fallback: T, range: ClosedRange<T>, flagName: String, kind: String
    ) throws -> T {
        if let flag {
            guard range.contains(flag) else { throw CLIError("\(flagName) \(flag) is out of range; use \(range.lowerBound)...\(range.upperBound)") }
            return flag
        }
        guard let text = value(name) else { return fallback }
        guard let number = T(text), range.contains(number) else {
            throw CLIError("\(name)=\"\(text)\" is not \(kind) in \(range.lowerBound)...\(range.upperBound); fix or unset it")
        }
        return number
    }

    /// Validates an http(s) base URL such as `https://api.stripe.com` or `http://127.0.0.1:8090`.
    static func baseURL(_ text: String, setting: String) throws -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil
        else {
            throw CLIError("\(setting) \"\(text)\" is not an http(s) base URL; use e.g. https://api.example.com or http://127.0.0.1:8090")
        }
        return text
    }
}
