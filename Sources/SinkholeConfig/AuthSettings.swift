import Foundation
import SMTPProtocol

/// AUTH: whether it is offered, which mechanisms, whose accounts
/// (`--auth`, `--no-auth`, `--auth-mechanisms`, `--auth-users`, `--require-auth`,
/// `--auth-over-tls-only`).
public struct AuthSettings: Sendable {
    /// The mechanisms offered; empty: AUTH is not offered.
    public var mechanisms: [SASLMechanism] = []
    /// `--auth-users`: `user:password` per line; nil: BadSMTP's rule (a user
    /// name containing `badauth` fails, any other succeeds).
    public var users: [String: String]?
    public var usersFile: String?
    /// MAIL before AUTH gets `530 5.7.0 Authentication required`.
    public var requireAuth = false
    /// nil (`auto`): only on listeners that are not loopback; true or false: everywhere.
    public var overTLSOnly: Bool?

    public init() {}

    /// Whether a listener on `address` offers AUTH only after TLS.
    public func overTLSOnly(on address: ListenAddress) -> Bool {
        overTLSOnly ?? !address.isLoopback
    }
}

extension Settings {
    mutating func resolveAuth(_ layers: SettingLayers) throws {
        var auth = AuthSettings()
        let mechanisms = try layers.value("auth-mechanisms", default: SASLMechanism.allCases, { text -> [SASLMechanism]? in
            let names = text.split(whereSeparator: { $0 == "," || $0 == " " })
            let parsed = names.compactMap { SASLMechanism(parsing: $0) }
            return !names.isEmpty && parsed.count == names.count ? parsed : nil
        }, expected: "a comma-separated list of \(SASLMechanism.names)")
        if let file = layers.string("auth-users") {
            auth.usersFile = file.value
            auth.users = try Self.readUsers(file.value)
        }
        let offered = try layers.value("auth", default: false, Parse.bool, expected: "true or false")
        let withheld = try layers.value("no-auth", default: false, Parse.bool, expected: "true or false")
        if !withheld && (offered || auth.users != nil) { auth.mechanisms = mechanisms }
        auth.requireAuth = try layers.value("require-auth", default: false, Parse.bool, expected: "true or false")
        auth.overTLSOnly = try layers.value("auth-over-tls-only", default: nil, { text -> Bool?? in
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "auto": .some(nil)
            case "true", "yes", "on", "1": .some(true)
            case "false", "no", "off", "0": .some(false)
            default: nil
            }
        }, expected: "auto, true or false")
        if auth.requireAuth && auth.mechanisms.isEmpty {
            throw SettingsError(description: "require-auth needs AUTH offered (--auth or --auth-users): without it no client could send mail")
        }
        self.auth = auth
    }

    /// `user:password` lines; `#` starts a comment; the password may hold `:`.
    static func readUsers(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw SettingsError(description: "cannot read auth-users \(path)")
        }
        var users: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                // The line itself is not shown: it may hold a password.
                throw SettingsError(description: "auth-users \(path) line \(number + 1): expected user:password")
            }
            users[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        guard !users.isEmpty else { throw SettingsError(description: "auth-users \(path): no user:password line") }
        return users
    }
}
