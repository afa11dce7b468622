import SinkholePolicy

/// The EHLO keywords that can be withheld: `--no-pipelining`, `--no-8bitmime`,
/// `--no-smtputf8`, `--no-enhancedstatuscodes`, and `--no-esmtp` for HELO only
/// (smtp-sink's `-p`, `-8`, `-E`, `-e`; its `-a` is `--no-auth`).
public struct KeywordSettings: Sendable {
    public var pipelining = true
    public var eightBitMIME = true
    public var smtpUTF8 = true
    public var enhancedStatusCodes = true
    public var esmtp = true
    /// `--no-dsn` (smtp-sink's `-N`), `--no-chunking`.
    public var dsn = true
    public var chunking = true
    /// `--no-xclient`, `--no-xforward` (smtp-sink's `-C`, `-F`); `--xclient-from` who may send them.
    /// smtp-sink's `-c`, `-v`, `-s`, `-T`: `--counters`, `--show-conversation`,
    /// `--syslog-commands CMDS` (smtp-sink's names, upper-cased), `--tcp-window BYTES`.
    public var counters = false
    public var showConversation = false
    public var loggedCommands: [String] = []
    public var tcpWindow: Int?
    /// `--lmtp` (smtp-sink's `-L`): every listener speaks LMTP.
    public var lmtp = false
    public var xclient = true
    public var xforward = true
    public var xclientFrom: [CIDR] = KeywordSettings.loopback
    public static let loopback = [CIDR("127.0.0.0/8")!, CIDR("::1/128")!]
    /// `--greeting TEXT`, or `********` for `--pix-greeting` (smtp-sink's `-P`); nil: the personality's.
    public var greeting: String?
    /// smtp-sink's `-M` and `-n`: stop after this many accepted messages, or ended sessions.
    public var stopAfterMessages: Int?
    public var stopAfterSessions: Int?

    public init() {}
}

extension Settings {
    mutating func resolveKeywords(_ layers: SettingLayers) throws {
        func withheld(_ key: String) throws -> Bool {
            try layers.value(key, default: false, Parse.bool, expected: "true or false")
        }
        var keywords = KeywordSettings()
        keywords.pipelining = try !withheld("no-pipelining")
        keywords.eightBitMIME = try !withheld("no-8bitmime")
        keywords.smtpUTF8 = try !withheld("no-smtputf8")
        keywords.enhancedStatusCodes = try !withheld("no-enhancedstatuscodes")
        keywords.esmtp = try !withheld("no-esmtp")
        keywords.dsn = try !withheld("no-dsn")
        keywords.chunking = try !withheld("no-chunking")
        keywords.lmtp = try withheld("lmtp")
        keywords.counters = try withheld("counters")
        keywords.showConversation = try withheld("show-conversation")
        if let (text, origin) = layers.string("syslog-commands") {
            keywords.loggedCommands = try SmtpSinkSwitches.commands(text, origin: origin).map(\.rawValue)
        }
        keywords.tcpWindow = try layers.value("tcp-window", default: nil, { text -> Int?? in
            guard let bytes = Int(text.trimmingCharacters(in: .whitespaces)), (1...65535).contains(bytes) else { return nil }
            return .some(bytes)
        }, expected: "a size in bytes from 1 to 65535")
        keywords.xclient = try !withheld("no-xclient")
        keywords.xforward = try !withheld("no-xforward")
        if let (values, origin) = layers.lookup("xclient-from") {
            keywords.xclientFrom = []
            for value in values.flatMap({ $0.split(separator: ",") }) {
                let text = value.trimmingCharacters(in: .whitespaces)
                if text.lowercased() == "none" { continue }
                guard let network = CIDR(text) ?? CIDR(text + (text.contains(":") ? "/128" : "/32")) else {
                    throw SettingsError(description: "invalid \(origin) \"\(text)\": expected networks such as 127.0.0.0/8,10.0.0.0/8, or none")
                }
                keywords.xclientFrom.append(network)
            }
        }
        if let text = layers.string("greeting") {
            let value = text.value.trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty, value.utf8.count <= 506,
                  !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw SettingsError(description: "invalid \(text.origin) \"\(text.value)\": a greeting is one line of text, 1 to 506 bytes, no control characters")
            }
            keywords.greeting = value
        }
        if try withheld("pix-greeting") {
            // A Cisco PIX's SMTP fixup masks the banner and hides ESMTP (smtp-sink's -P implies -e).
            guard keywords.greeting == nil else { throw SettingsError(description: "give greeting or pix-greeting, not both") }
            keywords.greeting = "********"
            keywords.esmtp = false
        }
        keywords.stopAfterMessages = try layers.value("stop-after-messages", default: nil, { Parse.positive($0).map { .some($0) } },
                                                      expected: "a whole number above 0")
        keywords.stopAfterSessions = try layers.value("stop-after-sessions", default: nil, { Parse.positive($0).map { .some($0) } },
                                                      expected: "a whole number above 0")
        self.keywords = keywords
    }
}
