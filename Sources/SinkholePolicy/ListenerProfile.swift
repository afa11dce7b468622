import SMTPProtocol

/// How one listener misbehaves whatever the client says: BadSMTP's port
/// bands and more, written after the address of `--listen`:
///
/// ```
/// --listen 127.0.0.1:2526,greeting-delay=30s
/// --listen 127.0.0.1:2527,drop-after=10s
/// --listen 127.0.0.1:2528,mode=bounce,rules=/etc/sinkhole/slow.yaml
/// ```
public struct ListenerProfile: Sendable {
    /// The listener's name in logs and rule conditions (`field: listener`); its address by default.
    public var name: String
    /// Wait this long before the greeting.
    public var greetingDelay: Duration?
    /// Send no greeting; close (FIN) after this long. Zero: at once (`drop-at-connect`).
    public var dropAfter: Duration?
    /// Wait this long before every reply after the greeting.
    public var commandDelay: Duration?
    /// This listener's mode, whatever the mode source says.
    public var mode: Mode?
    /// Rules checked before the global ones.
    public var rules: RuleBook?
    /// The path `rules=` named, until the executable loads it.
    public var rulesPath: String?
    /// Whose words this listener's normal replies are in, whatever `--personality` says.
    public var personality: SMTPPersonality?
    /// `tls`: TLS from the first byte (RFC 8314), as `--tls-listen`.
    public var implicitTLS = false
    /// `starttls` / `no-starttls`: offer STARTTLS here or not, whatever `--starttls` says.
    public var startTLS: Bool?
    /// `tls-profile=NAME`: the certificate this listener presents.
    public var tlsProfile: String?
    /// `proxy-protocol`: every connection starts with a PROXY v1 or v2 header naming the
    /// client (a load balancer's); one without a valid header is closed.
    public var proxyProtocol = false
    /// `lmtp`: this listener speaks LMTP (RFC 2033), whatever `--lmtp` says.
    public var lmtp = false

    public init(name: String, greetingDelay: Duration? = nil, dropAfter: Duration? = nil, commandDelay: Duration? = nil,
                mode: Mode? = nil, rules: RuleBook? = nil, rulesPath: String? = nil, personality: SMTPPersonality? = nil) {
        self.name = name
        self.greetingDelay = greetingDelay
        self.dropAfter = dropAfter
        self.commandDelay = commandDelay
        self.mode = mode
        self.rules = rules
        self.rulesPath = rulesPath
        self.personality = personality
    }

    /// Reads the `key=value` options after a listen address; `name` is the address.
    /// Throws a one-line reason for an unknown or malformed option.
    public static func parse(options: [Substring], name: String) throws(ProfileError) -> ListenerProfile {
        var profile = ListenerProfile(name: name)
        for option in options {
            let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0].trimmingSMTPWhitespace().lowercased()
            let value = parts.count == 2 ? String(parts[1].trimmingSMTPWhitespace()) : nil
            func duration() throws(ProfileError) -> Duration {
                guard let value, let duration = DurationText.parse(value) else {
                    throw ProfileError(reason: "\(key) needs a duration, such as \(key)=30s")
                }
                return duration
            }
            switch key {
            case "greeting-delay": profile.greetingDelay = try duration()
            case "drop-after": profile.dropAfter = try duration()
            case "drop-at-connect":
                guard value == nil else { throw ProfileError(reason: "drop-at-connect takes no value") }
                profile.dropAfter = .zero
            case "command-delay": profile.commandDelay = try duration()
            case "mode":
                guard let value, let mode = Mode(parsing: value) else {
                    throw ProfileError(reason: "mode needs one of \(Mode.names)")
                }
                profile.mode = mode
            case "rules":
                guard let value, !value.isEmpty else { throw ProfileError(reason: "rules needs a file, such as rules=/path/rules.yaml") }
                profile.rulesPath = value
            case "personality":
                guard let value, let personality = SMTPPersonality(parsing: value) else {
                    throw ProfileError(reason: "personality needs one of \(SMTPPersonality.names)")
                }
                profile.personality = personality
            case "name":
                guard let value, !value.isEmpty, !value.contains(where: { $0 == " " }) else {
                    throw ProfileError(reason: "name needs a value without spaces")
                }
                profile.name = value
            case "tls", "starttls", "no-starttls":
                guard value == nil else { throw ProfileError(reason: "\(key) takes no value") }
                if key == "tls" { profile.implicitTLS = true } else { profile.startTLS = key == "starttls" }
            case "lmtp":
                guard value == nil else { throw ProfileError(reason: "lmtp takes no value") }
                profile.lmtp = true
            case "proxy-protocol":
                guard value == nil else { throw ProfileError(reason: "proxy-protocol takes no value") }
                profile.proxyProtocol = true
            case "tls-profile":
                guard let value, !value.isEmpty else { throw ProfileError(reason: "tls-profile needs a certificate profile, such as tls-profile=expired") }
                profile.tlsProfile = value.lowercased()
            default:
                throw ProfileError(reason: "unknown listener option \"\(key)\" (expected greeting-delay, drop-after, drop-at-connect, command-delay, mode, rules, personality, name, tls, starttls, no-starttls, tls-profile, proxy-protocol or lmtp)")
            }
        }
        return profile
    }

    /// BadSMTP v0.1.7's bands: greeting delays on 25200–25209, a drop on 25600
    /// and drops after a delay on 25601–25609.
    public static let badsmtpDelays: [Duration] = [0, 1, 2, 8, 10, 30, 60, 120, 300, 600].map { .seconds($0) }
    public static let badsmtpGreetingBase = 25200
    public static let badsmtpDropBase = 25600
}

/// A listener option that cannot be used.
public struct ProfileError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
