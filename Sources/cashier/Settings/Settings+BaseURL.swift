import Foundation

extension Settings {
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
