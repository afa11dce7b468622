import SMTPProtocol

/// The SMTP steps a rule can answer: smtp-sink's command names, plus
/// `CONTENT` (part-way through a message) and `UNKNOWN` (a verb sinkhole does
/// not offer).
public enum RuleCommand: String, CaseIterable, Hashable, Sendable {
    case connect = "CONNECT"
    case helo = "HELO"
    case ehlo = "EHLO"
    case lhlo = "LHLO"
    case mail = "MAIL"
    case rcpt = "RCPT"
    /// The `DATA` command, before the `354`.
    case data = "DATA"
    /// A `BDAT` command, before its chunk is read (its reply goes after it).
    case bdat = "BDAT"
    /// Message content, once `bytes` of it have arrived.
    case content = "CONTENT"
    /// The final dot.
    case endOfData = "."
    case rset = "RSET"
    case noop = "NOOP"
    case vrfy = "VRFY"
    case expn = "EXPN"
    case help = "HELP"
    case quit = "QUIT"
    case startTLS = "STARTTLS"
    /// AUTH, once the client's credentials are in (the reply to the exchange).
    case auth = "AUTH"
    /// Postfix's XCLIENT and XFORWARD, from a client `--xclient-from` names.
    case xclient = "XCLIENT"
    case xforward = "XFORWARD"
    case unknown = "UNKNOWN"

    /// Parses a command name case-insensitively: smtp-sink's names, James's
    /// `"MAIL FROM"` and `"RCPT TO"`, and `END-OF-DATA` for `.`.
    public init?(parsing text: some StringProtocol) {
        let name = text.trimmingSMTPWhitespace().uppercased()
        switch name {
        case "MAIL FROM": self = .mail
        case "RCPT TO": self = .rcpt
        case "END-OF-DATA", "EOD", "DOT": self = .endOfData
        default: self.init(rawValue: name)
        }
    }

    public init(_ event: SMTPEvent) {
        switch event {
        case .connect: self = .connect
        case .helo: self = .helo
        case .ehlo: self = .ehlo
        case .lhlo: self = .lhlo
        case .mail: self = .mail
        case .rcpt: self = .rcpt
        case .data: self = .data
        case .bdat: self = .bdat
        case .content: self = .content
        case .endOfData: self = .endOfData
        case .rset: self = .rset
        case .noop: self = .noop
        case .vrfy: self = .vrfy
        case .expn: self = .expn
        case .help: self = .help
        case .quit: self = .quit
        case .startTLS: self = .startTLS
        case .authenticate: self = .auth
        case .xclient: self = .xclient
        case .xforward: self = .xforward
        case .unknown: self = .unknown
        }
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// This command's bit in a ``RuleBook``'s mask.
    var bit: UInt32 {
        switch self {
        case .connect: 1 << 0
        case .helo: 1 << 1
        case .ehlo: 1 << 2
        case .lhlo: 1 << 3
        case .mail: 1 << 4
        case .rcpt: 1 << 5
        case .data: 1 << 6
        case .content: 1 << 7
        case .endOfData: 1 << 8
        case .rset: 1 << 9
        case .noop: 1 << 10
        case .vrfy: 1 << 11
        case .expn: 1 << 12
        case .help: 1 << 13
        case .quit: 1 << 14
        case .unknown: 1 << 15
        case .startTLS: 1 << 16
        case .auth: 1 << 17
        case .bdat: 1 << 18
        case .xclient: 1 << 19
        case .xforward: 1 << 20
        }
    }
}

/// What a condition looks at.
public enum RuleField: Hashable, Sendable {
    /// The command's argument: the bare address for MAIL and RCPT (empty for
    /// `<>`), the name for HELO/EHLO, the whole message at the final dot (as James does).
    case argument
    case clientIP
    case helo
    case sender
    /// The RCPT's address; after RCPT, any accepted recipient.
    case recipient
    /// A header of the message, by name (case-insensitive), at the final dot.
    case header(String)
    /// The message size at the final dot, the `SIZE=` of MAIL before.
    case size
    /// The listener's name (its address, or its profile's `name=`).
    case listener
    /// A MAIL or RCPT parameter's value, by keyword (`parameter:NOTIFY` → `FAILURE,DELAY`;
    /// empty for one without a value, such as `SMTPUTF8`), at MAIL and RCPT.
    case parameter(String)

    public init?(parsing text: String) {
        let lower = text.lowercased()
        if lower.hasPrefix("header:") {
            let name = text.dropFirst("header:".count).trimmingSMTPWhitespace()
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && $0 != ":" && $0 != " " }) else { return nil }
            self = .header(String(name).lowercased())
            return
        }
        if lower.hasPrefix("parameter:") || lower.hasPrefix("param:") {
            let name = text.drop { $0 != ":" }.dropFirst().trimmingSMTPWhitespace()
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
            self = .parameter(String(name).uppercased())
            return
        }
        switch lower {
        case "argument", "arg", "value": self = .argument
        case "client_ip", "clientip", "client-ip", "ip": self = .clientIP
        case "helo", "ehlo": self = .helo
        case "sender", "from", "mail_from": self = .sender
        case "recipient", "rcpt", "to", "rcpt_to": self = .recipient
        case "size": self = .size
        case "listener": self = .listener
        default: return nil
        }
    }

    public static let expected = "argument, client_ip, helo, sender, recipient, header:NAME, parameter:NAME, size or listener"
}

/// An IPv4 or IPv6 network, `192.0.2.0/24` or `2001:db8::/32`.
public struct CIDR: Hashable, Sendable {
    let address: [UInt8]
    let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddressBytes.parse(parts[0]) else { return nil }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bits).contains(value) else { return nil }
            prefix = value
        }
        self.address = address
        self.prefix = prefix
    }

    /// Whether the address in network byte order (4 or 16 bytes) is in this network: no text parsed.
    public func contains(packed other: UnsafeRawBufferPointer) -> Bool {
        guard other.count == address.count else { return false }
        var remaining = prefix
        for index in 0..<address.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if address[index] & mask != other[index] & mask { return false }
            remaining -= 8
        }
        return true
    }

    public func contains(_ ip: String) -> Bool {
        guard let other = IPAddressBytes.parse(ip[...]), other.count == address.count else { return false }
        var remaining = prefix
        for index in 0..<address.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if address[index] & mask != other[index] & mask { return false }
            remaining -= 8
        }
        return true
    }
}

/// How a condition compares a field with its value.
public enum RuleOperator: Hashable, Sendable {
    /// Always matches (James's `matchAll`).
    case matchAll
    /// A plain substring (James's `contains`; case-sensitive unless `ignoreCase`).
    case contains(String)
    case equals(String)
    case prefix(String)
    case suffix(String)
    /// A regular expression, compiled once when the rule is loaded; matches anywhere unless anchored.
    case regex(RuleRegex)
    /// The client IP lies in the network.
    case cidr(CIDR)
    /// A number greater or less than this (for `size`).
    case greaterThan(Int)
    case lessThan(Int)
}

/// A compiled regular expression, compared by its source.
public struct RuleRegex: Hashable, @unchecked Sendable {
    // Regex<AnyRegexOutput> is immutable once built; sharing it across event loops is safe.
    let regex: Regex<AnyRegexOutput>
    public let source: String
    let ignoreCase: Bool

    public init(_ source: String, ignoreCase: Bool) throws {
        var regex = try Regex(source)
        if ignoreCase { regex = regex.ignoresCase() }
        self.regex = regex
        self.source = source
        self.ignoreCase = ignoreCase
    }

    func matches(_ text: String) -> Bool { (try? regex.firstMatch(in: text)) != nil }

    public static func == (a: RuleRegex, b: RuleRegex) -> Bool { a.source == b.source && a.ignoreCase == b.ignoreCase }
    public func hash(into hasher: inout Hasher) { hasher.combine(source); hasher.combine(ignoreCase) }
}

/// When a rule applies.
public indirect enum RuleCondition: Hashable, Sendable {
    case test(field: RuleField, operator: RuleOperator, ignoreCase: Bool)
    case not(RuleCondition)
    case all([RuleCondition])
    case any([RuleCondition])

    public static let always = RuleCondition.test(field: .argument, operator: .matchAll, ignoreCase: false)

    /// Whether the condition reads the message (a header, or the argument at the final dot).
    func readsMessage(at commands: Set<RuleCommand>) -> Bool {
        switch self {
        case .test(let field, let op, _):
            if case .header = field { return true }
            if case .matchAll = op { return false }
            return field == .argument && commands.contains(.endOfData)
        case .not(let inner): return inner.readsMessage(at: commands)
        case .all(let list), .any(let list): return list.contains { $0.readsMessage(at: commands) }
        }
    }
}

/// How long to wait: a fixed time, or uniformly between two.
public enum RuleDelay: Hashable, Sendable {
    case fixed(Duration)
    case uniform(min: Duration, max: Duration)
    /// smtp-sink's `-W cmd:delay:odds`: a random multiple of `delay`, the number
    /// of rolls of a 0…99 die until one is at least `odds`.
    case dice(unit: Duration, odds: Int)
}

/// What a rule does when it fires.
public struct RuleResponse: Hashable, Sendable {
    public enum Action: String, Hashable, Sendable, CaseIterable {
        case reply
        /// The command takes effect (a recipient is added, a sender recorded),
        /// with the rule's reply, a 2xx, or the normal one.
        case accept
        case replyAndClose = "reply_and_close"
        case disconnect
        case reset
        case hang
        /// STARTTLS only: `220` (the rule's or the normal one), then close with no handshake.
        case tlsClose = "tls_close"
        /// STARTTLS only: `220`, then bytes that are no TLS record, then close.
        case tlsGarbage = "tls_garbage"
    }

    public var action: Action
    /// For `reply` and `reply_and_close`.
    public var reply: SMTPReply?
    public var delay: RuleDelay?
    public var bytesPerSecond: Int?
    public var pieceSize: Int?
    /// Captured mail whatever the client was told: `true` keeps the recipient
    /// (or the message) although it was refused, `false` drops it silently although it was accepted.
    public var deliver: Bool?

    public init(action: Action, reply: SMTPReply? = nil, delay: RuleDelay? = nil,
                bytesPerSecond: Int? = nil, pieceSize: Int? = nil, deliver: Bool? = nil) {
        self.deliver = deliver
        self.action = action
        self.reply = reply
        self.delay = delay
        self.bytesPerSecond = bytesPerSecond
        self.pieceSize = pieceSize
    }

    public static func reply(_ reply: SMTPReply) -> RuleResponse { RuleResponse(action: .reply, reply: reply) }
}

/// One step of a rule's answers: a response, or `pass` (the normal reply, this once).
public enum RuleStep: Hashable, Sendable {
    case respond(RuleResponse)
    /// Lets the later layers decide, and counts as an answer.
    case pass
    /// Only delays the normal reply (smtp-sink's `-W`, `-w`).
    case delayOnly(RuleDelay)
    /// The reply the later layers choose, delivered slowly: delayed, dribbled or split.
    case slow(delay: RuleDelay?, bytesPerSecond: Int?, pieceSize: Int?)
}

/// Whose attempts a rule counts separately.
public enum RuleCountKey: String, Hashable, Sendable, CaseIterable {
    case global
    case clientIP = "client_ip"
    case sender
    case recipient
    case triplet
}

/// A rule: at these commands, when the condition holds, answer this way.
///
/// ```yaml
/// - id: mailbox-full
///   command: RCPT
///   condition: {operator: equals, field: recipient, matchingValue: full@example.com}
///   response: {code: 552, enhancedCode: 5.2.2, message: Mailbox full}
///   numberOfAnswer: 2
///   count_per: recipient
/// ```
public struct Rule: Hashable, Sendable {
    public var id: String
    public var commands: Set<RuleCommand>
    public var condition: RuleCondition
    /// The answers in turn, for each counting key; with `numberOfAnswer`
    /// unset and one step, that step repeats for ever.
    public var steps: [RuleStep]
    /// Most answers for each key; nil: unlimited (repeating the last step).
    public var numberOfAnswer: Int?
    public var countPer: RuleCountKey
    /// Percent chance (0–100) the rule fires when it matches.
    public var probability: Double?
    public var seed: UInt64?
    /// How long after loading the rule stays in force.
    public var ttl: Duration?
    /// For `CONTENT`: fire once this many bytes of content have arrived.
    public var contentBytes: Int
    /// Where the rule came from, for logs: `rules`, `smtp-sink`, a listener's file.
    public var origin: String

    public init(id: String, commands: Set<RuleCommand>, condition: RuleCondition = .always, steps: [RuleStep],
                numberOfAnswer: Int? = nil, countPer: RuleCountKey = .global, probability: Double? = nil,
                seed: UInt64? = nil, ttl: Duration? = nil, contentBytes: Int = 0, origin: String = "rules") {
        self.id = id
        self.commands = commands
        self.condition = condition
        self.steps = steps
        self.numberOfAnswer = numberOfAnswer
        self.countPer = countPer
        self.probability = probability
        self.seed = seed
        self.ttl = ttl
        self.contentBytes = contentBytes
        self.origin = origin
    }

    /// Whether the rule needs the message's text at the final dot.
    var readsMessage: Bool { condition.readsMessage(at: commands) }

    /// Whether the rule is limited in its answers (and so keeps a count per key).
    var isCounted: Bool { numberOfAnswer != nil || steps.count > 1 }
}

/// IP address text to bytes, for CIDR matching (no Foundation, no sockets).
enum IPAddressBytes {
    static func parse(_ text: Substring) -> [UInt8]? {
        var text = text
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if text.contains(":") { return parseV6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCIIDigitCharacter),
                  let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    private static func parseV6(_ text: Substring) -> [UInt8]? {
        // An IPv4-mapped tail (::ffff:192.0.2.1) is not needed for sinkhole's peers.
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}

extension Substring {
    fileprivate func components(separatedBy separator: String) -> [String] {
        var out: [String] = []
        var rest = self[...]
        while let range = rest.firstRange(of: separator) {
            out.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
