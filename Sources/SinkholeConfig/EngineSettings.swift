import SMTPProtocol
import SinkholePolicy

/// The decision engine's settings: rules from the config file and
/// `--rules`, smtp-sink's switches as rules, client triggers, greylisting.
public struct EngineSettings: Sendable {
    /// Every global rule in the order they are checked: `rules:`, then
    /// `james-behaviors:`, then `--rules`, then smtp-sink's switches.
    public var rules: [Rule] = []
    public var ruleStateMaxEntries = RuleBook.defaultMaxKeys
    public var ruleMessageLimit = 1 << 20
    public var clientTriggers = true
    /// `--hard-reject`/`--soft-reject` withdraw PIPELINING, as smtp-sink's -f/-r do.
    public var withdrawPipelining = false
    public var dataReadDelay: Duration?
    public var abortDataAfter: Duration?
    public var greylist = GreylistSettings()
    public var badsmtpPorts = false
    /// Seeds every random choice (delays, probabilities without a seed of their own).
    public var seed: UInt64?

    public init() {}
}

/// smtp-sink's fault switches, each turned into rules with smtp-sink's meaning.
public enum SmtpSinkSwitches {
    public static let hardReplyDefault = "500 5.3.0 Error: command failed"
    public static let softReplyDefault = "450 4.3.0 Error: command failed"

    /// `MAIL,RCPT`, `"mail rcpt"`, `.`: smtp-sink's command names.
    public static func commands(_ text: String, origin: String) throws -> [RuleCommand] {
        var out: [RuleCommand] = []
        for name in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
            guard let command = RuleCommand(parsing: name), command != .content, command != .unknown else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": unknown command \"\(name)\" (expected CONNECT, HELO, EHLO, LHLO, MAIL, RCPT, VRFY, DATA, ., RSET, NOOP or QUIT)")
            }
            if !out.contains(command) { out.append(command) }
        }
        guard !out.isEmpty else { throw SettingsError(description: "invalid \(origin): no command named") }
        return out
    }

    /// `RCPT:2` or `RCPT:2:50` (smtp-sink's -W cmd:delay[:odds]).
    public static func delay(_ text: String, origin: String) throws -> (RuleCommand, RuleDelay) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let command = RuleCommand(parsing: parts[0]),
              command != .content, command != .unknown,
              let seconds = Parse.duration(String(parts[1])) else {
            throw SettingsError(description: "invalid \(origin) \"\(text)\": expected COMMAND:SECONDS or COMMAND:SECONDS:ODDS, such as RCPT:2 or RCPT:1:50")
        }
        if parts.count == 3 {
            guard let odds = Int(parts[2]), (1...99).contains(odds) else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": ODDS is a whole number from 1 to 99")
            }
            return (command, .dice(unit: seconds, odds: odds))
        }
        return (command, .fixed(seconds))
    }
}

extension Settings {
    mutating func resolveEngine(_ layers: SettingLayers) throws {
        var engine = EngineSettings()
        let file = layers.fileName ?? "the config file"

        // Rules: the config file's, James's list, then --rules.
        do {
            if let section = layers.sections["rules"] {
                engine.rules += try RuleDecoder.decode(section, origin: "rules")
            }
            if let section = layers.sections["james-behaviors"] {
                engine.rules += try RuleDecoder.decode(section, origin: "james-behaviors", james: true)
            }
        } catch {
            throw SettingsError(description: "\(file): \(error)")
        }
        if let (path, _) = layers.string("rules") {
            let document = try ConfigFile.load(path, what: "rules file")
            do {
                engine.rules += try RuleDecoder.decode(document, origin: path)
            } catch {
                throw SettingsError(description: "\(path): \(error)")
            }
        }
        var ids = Set<String>()
        for rule in engine.rules where !ids.insert(rule.id).inserted {
            throw SettingsError(description: "rule \(rule.id): id: another rule has this id (\(rule.origin))")
        }

        engine.clientTriggers = try layers.value("client-triggers", default: true, Parse.bool, expected: "on or off")
        engine.ruleStateMaxEntries = try layers.value("rule-state-max-entries", default: RuleBook.defaultMaxKeys,
                                                      Parse.positive, expected: "a whole number above 0")
        engine.ruleMessageLimit = try layers.value("rule-message-limit", default: 1 << 20, Parse.size,
                                                   expected: "a size such as 1M or 64K")
        if let (text, origin) = layers.string("seed") {
            guard let seed = UInt64(text.trimmingCharacters(in: .whitespaces)) else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": expected a whole number, 0 or more")
            }
            engine.seed = seed
        }

        // smtp-sink's switches, in smtp-sink's order of precedence: disconnect,
        // 421, hard, soft, delay.
        func reply(_ key: String, _ fallback: String) throws -> SMTPReply {
            let parsed = try layers.value(key, default: SMTPReply(operatorText: fallback), SMTPReply.init(operatorText:),
                                          expected: "a reply such as \"\(fallback)\"")
            guard let parsed else { throw SettingsError(description: "invalid default \(key)") }
            return parsed
        }
        let hardReply = try reply("hard-reply", SmtpSinkSwitches.hardReplyDefault)
        let softReply = try reply("soft-reply", SmtpSinkSwitches.softReplyDefault)
        guard hardReply.code.isPermanent else { throw SettingsError(description: "invalid hard-reply: must be a 5xx, not \(hardReply.code)") }
        guard softReply.code.isTransient else { throw SettingsError(description: "invalid soft-reply: must be a 4xx, not \(softReply.code)") }
        var switches: [Rule] = []
        func add(_ key: String, _ step: RuleStep) throws {
            guard let (values, origin) = layers.lookup(key) else { return }
            for command in try SmtpSinkSwitches.commands(values.joined(separator: ","), origin: origin) {
                switches.append(Rule(id: "\(key):\(command.rawValue)", commands: [command], steps: [step], origin: "smtp-sink"))
            }
        }
        try add("disconnect", .respond(RuleResponse(action: .disconnect)))
        try add("close", .respond(RuleResponse(action: .replyAndClose, reply: .serverClosing)))
        try add("hard-reject", .respond(.reply(hardReply)))
        try add("soft-reject", .respond(.reply(softReply)))
        engine.withdrawPipelining = layers.lookup("hard-reject") != nil || layers.lookup("soft-reject") != nil
        if let (values, origin) = layers.lookup("delay") {
            for value in values {
                let (command, delay) = try SmtpSinkSwitches.delay(value, origin: origin)
                switches.append(Rule(id: "delay:\(command.rawValue)", commands: [command], steps: [.delayOnly(delay)], origin: "smtp-sink"))
            }
        }
        if let (text, origin) = layers.string("data-delay") {
            guard let delay = Parse.duration(text) else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": expected a duration such as 2 or 500ms")
            }
            switches.append(Rule(id: "data-delay", commands: [.data], steps: [.delayOnly(.fixed(delay))], origin: "smtp-sink"))
        }
        engine.rules += switches
        engine.dataReadDelay = try layers.string("data-read-delay").map { text, origin in
            guard let delay = Parse.duration(text) else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": expected a duration such as 2 or 500ms")
            }
            return delay
        }
        engine.abortDataAfter = try layers.string("abort-data-after").map { text, origin in
            guard let delay = Parse.duration(text) else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": expected a duration such as 0, 2 or 500ms")
            }
            return delay
        }

        // Greylisting: a preset, then each setting over it.
        var greylist = GreylistSettings()
        if let (text, origin) = layers.string("greylist-preset") {
            guard let preset = GreylistSettings.preset(text) else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": expected one of \(GreylistSettings.presetNames)")
            }
            greylist = preset
        }
        if layers.lookup("greylist-reply") != nil || layers.lookup("greylist-preset") == nil {
            greylist.replyCode = replies.greylistReply.code
            greylist.replyEnhanced = replies.greylistReply.enhanced
            greylist.replyText = replies.greylistReply.lines.joined(separator: " ")
        }
        if layers.lookup("greylist-window") != nil || layers.lookup("greylist-preset") == nil {
            greylist.retryWindow = greylistWindow
            greylist.maxAge = greylistWindow
        }
        greylist.key = try layers.value("greylist-key", default: greylist.key, { GreylistSettings.Key(rawValue: $0.lowercased()) },
                                        expected: "ip, net or triplet")
        greylist.delay = try layers.value("greylist-delay", default: greylist.delay, Parse.duration, expected: "a duration such as 0, 300 or 5m")
        greylist.retryWindow = try layers.value("greylist-retry-window", default: greylist.retryWindow, Parse.duration,
                                                expected: "a duration such as 30m or 2d")
        greylist.maxAge = try layers.value("greylist-max-age", default: greylist.maxAge, Parse.duration,
                                           expected: "a duration such as 30m or 35d")
        greylist.autoWhitelist = try layers.value("greylist-auto-whitelist", default: greylist.autoWhitelist,
                                                  { Int($0.trimmingCharacters(in: .whitespaces)).flatMap { $0 >= 0 ? $0 : nil } },
                                                  expected: "a whole number, 0 (off) or more")
        if let (text, origin) = layers.string("greylist-answer") {
            guard let answer = GreylistSettings.Answer(rawValue: text.lowercased().trimmingCharacters(in: .whitespaces)) else {
                throw SettingsError(description: "invalid \(origin) \"\(text)\": expected rcpt or close")
            }
            greylist.answer = answer
        }
        guard greylist.retryWindow > .zero, greylist.maxAge > .zero else {
            throw SettingsError(description: "invalid greylist-retry-window or greylist-max-age: must be more than 0")
        }
        guard greylist.delay < greylist.retryWindow else {
            throw SettingsError(description: "invalid greylist-delay: must be shorter than greylist-retry-window (\(greylist.retryWindow))")
        }
        engine.greylist = greylist
        engine.badsmtpPorts = try layers.value("badsmtp-ports", default: false, Parse.bool, expected: "true or false")
        self.engine = engine
    }
}
