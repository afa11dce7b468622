import Foundation
import Logging
import NIOCore
import SMTPProtocol
import SinkholePolicy
import Yams

/// A setting that could not be used, said in one line with where it came from.
public struct SettingsError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Where a setting's value comes from, highest precedence first: flags, then
/// `SINKHOLE_<NAME>` environment variables, then the config file, then defaults.
public struct SettingLayers {
    /// Values given as flags, by option name (`max-message-size`).
    public var flags: [String: [String]]
    public var environment: [String: String]
    /// Values from the config file, by option name.
    public var file: [String: [String]]
    /// The config file's nested sections (`rules`, `listeners`, `james-behaviors`), by name.
    public var sections: [String: ConfigValue] = [:]
    public var fileName: String?

    public init(flags: [String: [String]], environment: [String: String], file: [String: [String]] = [:]) {
        self.flags = flags
        self.environment = environment
        self.file = file
    }

    /// `max-connections` → `SINKHOLE_MAX_CONNECTIONS`. Asked for every setting at each start:
    /// a character map, not Foundation's `replacingOccurrences` (whose NSString path was
    /// 3 of a start's 86 million instructions and pulled in CoreFoundation's code).
    public static func environmentName(_ key: String) -> String {
        "SINKHOLE_" + String(key.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// The values for `key` and a description of their origin.
    public func lookup(_ key: String) -> (values: [String], origin: String)? {
        if let values = flags[key], !values.isEmpty { return (values, "--\(key)") }
        let variable = Self.environmentName(key)
        if let value = environment[variable] {
            // A list in the environment is comma-separated.
            return (value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, variable)
        }
        if let values = file[key] { return (values, "\(key) in \(fileName ?? "the config file")") }
        return nil
    }

    public func string(_ key: String) -> (value: String, origin: String)? {
        guard let (values, origin) = lookup(key), let last = values.last else { return nil }
        return (last, origin)
    }

    public func value<T>(_ key: String, default fallback: T, _ parse: (String) -> T?, expected: String) throws -> T {
        guard let (text, origin) = string(key) else { return fallback }
        guard let value = parse(text) else {
            throw SettingsError(description: "invalid \(origin) \"\(text)\": expected \(expected)")
        }
        return value
    }

    /// The config file's keys that hold nested sections rather than option values.
    public static let sectionKeys: Set<String> = ["rules", "listeners", "james-behaviors"]

    /// Reads a YAML or JSON config file (YAML is a superset of JSON) whose keys
    /// are the option names: `mode: accept`, `max-message-size: 10M`, `listen: [...]`,
    /// and the sections `rules:`, `listeners:` and `james-behaviors:`.
    public mutating func readFile(_ path: String, knownKeys: Set<String>) throws {
        let document = try ConfigFile.load(path)
        fileName = path
        guard case .map(let mapping) = document else {
            if document == .null { return }
            throw SettingsError(description: "config file \(path) must be a mapping of option names to values")
        }
        for (rawKey, rawValue) in mapping {
            let key = rawKey.replacingOccurrences(of: "_", with: "-").lowercased()
            if Self.sectionKeys.contains(key) {
                // `rules: FILE` names a file, as --rules does; a list holds the rules themselves.
                switch rawValue {
                case .list, .map: sections[key] = rawValue; continue
                default: if key != "rules" { sections[key] = rawValue; continue }
                }
            }
            guard knownKeys.contains(key) else {
                throw SettingsError(description: "config file \(path): unknown setting \"\(rawKey)\"")
            }
            switch rawValue {
            case .list(let list):
                var values: [String] = []
                for item in list {
                    guard let text = item.scalarText else {
                        throw SettingsError(description: "config file \(path): \"\(rawKey)\" must be a value or a list of values")
                    }
                    values.append(text)
                }
                file[key] = values
            case .map:
                throw SettingsError(description: "config file \(path): \"\(rawKey)\" must be a value or a list")
            case .null:
                continue
            default:
                file[key] = [rawValue.scalarText ?? ""]
            }
        }
    }
}

public enum Parse {
    /// `30`, `0.5`, `500ms`, `30s`, `5m`, `2h`, `1d` (the policy's reader, shared with rules).
    public static func duration(_ text: String) -> Duration? { DurationText.parse(text) }

    /// `1048576`, `64K`, `25M`, `1G` (binary multiples; `KiB`, `MB` also read).
    public static func size(_ text: String) -> Int? { SizeText.parse(text) }

    public static func bool(_ text: String) -> Bool? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "1", "on": true
        case "false", "no", "0", "off": false
        default: nil
        }
    }

    /// `us-east-1`, `eu-west-2`, `us-gov-west-1`: lower-case letters, digits and dashes.
    public static func awsRegion(_ text: String) -> String? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.count <= 32, text.allSatisfy({ ($0.isASCII && $0.isLowercase) || $0.isNumber || $0 == "-" }) else {
            return nil
        }
        return text
    }

    public static func positive(_ text: String) -> Int? {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value > 0 else { return nil }
        return value
    }
}

/// Where the mode comes from, as `--mode-source` names it.
public enum ModeSourceSpec: Equatable, Sendable {
    case ssm(parameter: String)
    case file(path: String)
    case environment(variable: String)
    case fixed(mode: String)

    public static let expected = "ssm:PARAMETER, file:PATH, env:VARIABLE or static:MODE"

    public init?(parsing text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = text[..<colon].lowercased()
        let value = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else { return nil }
        switch kind {
        case "ssm":
            // SSM names are letters, digits and _.-/ (an ARN also has ':'); never spaces.
            guard !value.contains(where: { $0.isWhitespace }) else { return nil }
            self = .ssm(parameter: value)
        case "file": self = .file(path: value)
        case "env": self = .environment(variable: value)
        case "static":
            guard Mode(parsing: value) != nil else { return nil }
            self = .fixed(mode: value)
        default: return nil
        }
    }
}

/// Everything sinkhole runs with, resolved from the layers.
public struct Settings: Sendable {
    /// Each listener: its address and, after it, its profile's options.
    public var listen: [ListenerSpec]
    /// The operations HTTP listener (`/healthz`, `/readyz`, `/metrics`); nil for `none`.
    public var httpListen: ListenAddress?
    public var hostname: String
    /// Whose words the normal replies are in (a listener's `personality=` overrides it).
    public var personality: SMTPPersonality
    public var mode: (text: String, origin: String)?
    public var modeFile: String?
    public var modeSource: ModeSourceSpec?
    public var ssmWithDecryption: Bool
    /// `--aws-region` as a flag: it wins over `AWS_REGION`.
    public var awsRegionFlag: String?
    /// `aws-region` from `SINKHOLE_AWS_REGION` or the config file: `AWS_REGION` wins over it.
    public var awsRegionSetting: String?
    public var awsConnectTimeout: Duration
    public var awsRequestTimeout: Duration
    public var modeCacheTTL: Duration
    public var replies: ModeReplies
    public var greylistWindow: Duration
    public var greylistMaxEntries: Int
    public var maxLineLength: Int
    public var maxMessageSize: Int
    public var maxRecipients: Int
    public var maxConnections: Int
    public var idleTimeout: Duration
    public var sessionTimeLimit: Duration
    public var dataTimeLimit: Duration
    public var maxErrors: Int
    public var threads: Int
    public var shutdownGrace: Duration
    public var headerLogLimit: Int
    public var logFormat: LogFormat
    /// The decision engine's rules, switches, triggers and greylisting.
    public var engine = EngineSettings()
    /// The control API's access and what capture keeps.
    public var api = APISettings()
    /// STARTTLS, implicit TLS, certificates.
    public var tls = TLSSettings()
    /// AUTH's mechanisms and accounts.
    public var auth = AuthSettings()
    /// The EHLO keywords withheld.
    public var keywords = KeywordSettings()
    /// Capture to disk.
    public var disk = DiskSettings()
    /// `--socket-mode`: the file mode of UNIX-domain listeners.
    public var socketMode = 0o666
    /// `--listen-backlog`: smtp-sink's `backlog` argument, listen(2)'s queue of connections not yet accepted.
    public var listenBacklog = 4096
    /// `--stdio`: one session on standard input and output (inetd, `swaks --pipe`).
    public var stdio = false
    /// smtp-sink's `-4` and `-6`: `--ipv4-only`, `--ipv6-only`.
    public enum AddressFamily: Sendable { case any, ipv4, ipv6 }
    public var addressFamily = AddressFamily.any
    public var logLevel: Logger.Level

    /// Half the CPUs (NIO counts a container's CPU quota), at least one: sinkhole
    /// usually shares its machine with the client driving it, and threads that
    /// compete with that client for cores cost more than they serve. On two
    /// cores with smtp-source alongside, one loop did 26,100–29,400 msgs/s at
    /// 33–37 µs CPU each where two did 19,900–24,100 at 38–43 µs.
    public static let defaultThreads = max(1, System.coreCount / 2)

    public init(_ layers: SettingLayers, defaultHostname: String) throws {
        listen = []
        if let (values, origin) = layers.lookup("listen") {
            for value in Self.joinListenOptions(values, fromEnvironment: origin.hasPrefix("SINKHOLE_")) {
                listen.append(try ListenerSpec(parsing: value, origin: origin))
            }
        }
        if let section = layers.sections["listeners"] {
            listen += try ListenerSpec.parse(section: section, origin: "listeners in \(layers.fileName ?? "the config file")")
        }
        if listen.isEmpty { listen = [ListenerSpec(address: ListenAddress(host: "127.0.0.1", port: 2525))] }
        stdio = try layers.value("stdio", default: false, Parse.bool, expected: "true or false")
        // With --stdio a second sinkhole may run per session: no operations listener unless asked for.
        httpListen = try layers.value("http-listen", default: stdio ? nil : ListenAddress(host: "127.0.0.1", port: 8025), { text -> ListenAddress?? in
            if text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return .some(nil) }
            guard let address = ListenAddress(parsing: text), address.unixPath == nil else { return nil }  // not "none": invalid
            return .some(address)
        }, expected: "HOST:PORT, such as 127.0.0.1:8025, or none")
        socketMode = try layers.value("socket-mode", default: 0o666, { text in
            let digits = text.trimmingCharacters(in: .whitespaces)
            guard (1...4).contains(digits.count), let mode = Int(digits, radix: 8), mode <= 0o777 else { return nil }
            return mode
        }, expected: "an octal file mode such as 0660")
        listenBacklog = try layers.value("listen-backlog", default: 4096, { Int($0).flatMap { (1...65535).contains($0) ? $0 : nil } },
                                         expected: "a whole number from 1 to 65535")
        let ipv4Only = try layers.value("ipv4-only", default: false, Parse.bool, expected: "true or false")
        let ipv6Only = try layers.value("ipv6-only", default: false, Parse.bool, expected: "true or false")
        guard !(ipv4Only && ipv6Only) else { throw SettingsError(description: "give ipv4-only or ipv6-only, not both") }
        addressFamily = ipv4Only ? .ipv4 : ipv6Only ? .ipv6 : .any
        for spec in listen where spec.address.unixPath == nil {
            let wrong = addressFamily == .ipv4 ? spec.address.isIPv6 : addressFamily == .ipv6 ? !spec.address.isIPv6 : false
            if wrong {
                throw SettingsError(description: "listen \(spec.address) is not \(addressFamily == .ipv4 ? "IPv4" : "IPv6"), and \(addressFamily == .ipv4 ? "ipv4-only" : "ipv6-only") is given")
            }
        }

        hostname = try layers.value("hostname", default: defaultHostname, { text in
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            return !trimmed.isEmpty && trimmed.utf8.count <= 255 && !trimmed.contains(where: { $0 == " " || $0.isNewline })
                ? trimmed : nil
        }, expected: "a host name without spaces")
        personality = try layers.value("personality", default: .sinkhole, { SMTPPersonality(parsing: $0) },
                                       expected: "one of \(SMTPPersonality.names)")

        if let mode = layers.string("mode") {
            guard Mode(parsing: mode.value) != nil else {
                throw SettingsError(description: "invalid \(mode.origin) \"\(mode.value)\": expected one of \(Mode.names)")
            }
            self.mode = (mode.value, mode.origin)
        }
        modeFile = layers.string("mode-file")?.value
        if let spec = layers.string("mode-source") {
            guard let parsed = ModeSourceSpec(parsing: spec.value) else {
                throw SettingsError(description: "invalid \(spec.origin) \"\(spec.value)\": expected \(ModeSourceSpec.expected)"
                    + (spec.value.lowercased().hasPrefix("static:") ? " (MODE one of \(Mode.names))" : ""))
            }
            modeSource = parsed
        }
        ssmWithDecryption = try layers.value("ssm-with-decryption", default: false, Parse.bool, expected: "true or false")
        if let region = layers.string("aws-region") {
            guard Parse.awsRegion(region.value) != nil else {
                throw SettingsError(description: "invalid \(region.origin) \"\(region.value)\": expected a region such as us-east-1")
            }
            if region.origin.hasPrefix("--") { awsRegionFlag = region.value } else { awsRegionSetting = region.value }
        }
        awsConnectTimeout = try layers.value("aws-connect-timeout", default: .seconds(2), Parse.duration,
                                             expected: "a duration such as 2s or 500ms")
        awsRequestTimeout = try layers.value("aws-request-timeout", default: .seconds(5), Parse.duration,
                                             expected: "a duration such as 5s")
        guard awsConnectTimeout > .zero, awsRequestTimeout > .zero else {
            throw SettingsError(description: "invalid aws-connect-timeout or aws-request-timeout: must be more than 0")
        }
        modeCacheTTL = try layers.value("mode-cache-ttl", default: .seconds(30), Parse.duration,
                                        expected: "a duration such as 30, 30s or 500ms")
        guard modeCacheTTL > .zero else {
            throw SettingsError(description: "invalid mode-cache-ttl: must be more than 0")
        }

        func reply(_ key: String, _ fallback: SMTPReply) throws -> SMTPReply {
            try layers.value(key, default: fallback, SMTPReply.init(operatorText:),
                             expected: "a reply such as \"451 4.7.1 Greylisted\"")
        }
        replies = ModeReplies(
            deferReply: try reply("defer-reply", .deferDefault),
            bounceReply: try reply("bounce-reply", .bounceDefault),
            acceptReply: try reply("accept-reply", .recipientOK),
            greylistReply: try reply("greylist-reply", .greylistDefault)
        )
        if let problem = replies.validationError() { throw SettingsError(description: "invalid reply: \(problem)") }

        greylistWindow = try layers.value("greylist-window", default: .seconds(1800), Parse.duration,
                                          expected: "a duration such as 1800, 30m or 2h")
        greylistMaxEntries = try layers.value("greylist-max-entries", default: 100_000, Parse.positive,
                                              expected: "a whole number above 0")
        maxLineLength = try layers.value("max-line-length", default: SMTPDefaults.commandLineLengthLimit, Parse.size,
                                         expected: "a number of bytes")
        guard maxLineLength >= 512 else {
            throw SettingsError(description: "invalid max-line-length \(maxLineLength): RFC 5321 requires at least 512")
        }
        maxMessageSize = try layers.value("max-message-size", default: SMTPDefaults.maxMessageSize, Parse.size,
                                          expected: "a size such as 26214400, 64K or 25M")
        maxRecipients = try layers.value("max-recipients", default: SMTPDefaults.maxRecipients, Parse.positive,
                                         expected: "a whole number above 0")
        maxConnections = try layers.value("max-connections", default: SMTPDefaults.maxConnections, Parse.positive,
                                          expected: "a whole number above 0")
        idleTimeout = try layers.value("idle-timeout", default: .seconds(SMTPDefaults.idleTimeoutSeconds), Parse.duration,
                                       expected: "a duration such as 300, 300s or 5m")
        guard idleTimeout > .zero else { throw SettingsError(description: "invalid idle-timeout: must be more than 0") }
        sessionTimeLimit = try layers.value("session-time-limit", default: .seconds(SMTPDefaults.sessionTimeLimitSeconds),
                                            Parse.duration, expected: "a duration such as 1800, 30m or 1h")
        dataTimeLimit = try layers.value("data-time-limit", default: .seconds(SMTPDefaults.dataTimeLimitSeconds),
                                         Parse.duration, expected: "a duration such as 600 or 10m")
        maxErrors = try layers.value("max-errors", default: SMTPDefaults.maxErrors, Parse.positive,
                                     expected: "a whole number above 0")
        guard sessionTimeLimit > .zero, dataTimeLimit > .zero else {
            throw SettingsError(description: "invalid session-time-limit or data-time-limit: must be more than 0")
        }
        threads = try layers.value("threads", default: Self.defaultThreads, Parse.positive,
                                   expected: "a whole number above 0")
        shutdownGrace = try layers.value("shutdown-grace", default: .seconds(10), Parse.duration,
                                         expected: "a duration such as 10 or 10s")
        headerLogLimit = try layers.value("header-log-limit", default: 64 * 1024, Parse.size,
                                          expected: "a size such as 65536 or 64K")
        logFormat = try layers.value("log-format", default: .json, { LogFormat(rawValue: $0.lowercased()) },
                                     expected: "json or text")
        logLevel = try layers.value("log-level", default: .info, { Logger.Level(rawValue: $0.lowercased()) },
                                    expected: "trace, debug, info, notice, warning, error or critical")
        try resolveEngine(layers)
        try resolveAPI(layers)
        try resolveTLS(layers)
        try resolveAuth(layers)
        try resolveKeywords(layers)
        try resolveDisk(layers)
    }
}

/// How log lines are written.
public enum LogFormat: String, CaseIterable, Sendable {
    case json
    case text
}
