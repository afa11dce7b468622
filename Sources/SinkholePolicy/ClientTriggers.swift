import SMTPProtocol

/// Faults the client under test asks for itself, as BadSMTP v0.1.7 reads
/// them (see `docs/faults.md`, "Client triggers"):
///
/// | where | form | effect |
/// | --- | --- | --- |
/// | MAIL FROM | `mail550@x`, `mail550_5.1.1@x` | that MAIL gets the reply |
/// | RCPT TO | `rcpt452@x` | that RCPT gets the reply; the recipient is not added |
/// | MAIL FROM | `data554@`, `rset`, `noop`, `quit` | armed: the later DATA (before 354), RSET, NOOP or QUIT gets it |
/// | HELO/EHLO | `helo421.x`, `ehlo554.x` | that HELO/EHLO gets the reply |
/// | EHLO | `nopipelining-no8bit-size5000-dlay2.x` | keywords in the first label change what is offered |
/// | VRFY | `exists…`, `unknown…`, `ambiguous…` | 250, 551, 553 |
///
/// sinkhole's own additions: `<verb>del<seconds>` delays that verb's normal
/// reply (`rcptdel5@x`; `rcpt451del5@x` delays the 451), `<verb>drop` closes
/// the connection at that verb without a reply.
public enum ClientTriggers {
    /// The verbs an address may name, longest first (so `starttls` is not read as `s…`).
    static let addressVerbs = ["starttls", "mail", "rcpt", "data", "rset", "quit", "noop", "auth"]

    /// What an address asks for.
    public struct AddressTrigger: Hashable, Sendable {
        public var verb: String
        /// The reply code and optional enhanced code, or nil (delay or drop only).
        public var code: Int?
        public var enhanced: EnhancedStatusCode?
        public var delay: Duration?
        public var drop = false
    }

    /// Reads the local part of `address` (lower-cased): exactly
    /// `<verb><3 digits>[_<x>.<y>.<z>][del<seconds>]` or `<verb>drop[del<seconds>]`
    /// or `<verb>del<seconds>`, then `@`.
    public static func parse(address: String) -> AddressTrigger? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        return parse(localPart: String(address[..<at]))
    }

    /// The same, given the local part alone.
    public static func parse(localPart local: String) -> AddressTrigger? {
        // Cheap refusal on the hot path, with no copy: a trigger is short and
        // starts with the first letter of one of the verbs.
        let utf8 = local.utf8
        guard utf8.count >= 5, utf8.count <= 40,
              addressVerbs.contains(where: { verb in
                  verb.utf8.count < utf8.count && zip(verb.utf8, utf8).allSatisfy { $0 == $1 | 0x20 }
              }) else { return nil }
        let text = local.lowercased()
        guard let verb = addressVerbs.first(where: { text.hasPrefix($0) }) else { return nil }
        var rest = text.dropFirst(verb.count)
        var trigger = AddressTrigger(verb: verb)
        if rest.hasPrefix("drop") {
            trigger.drop = true
            rest = rest.dropFirst(4)
        } else if let digits = rest.prefix(3).allDigits, digits.count == 3 {
            rest = rest.dropFirst(3)
            guard let code = Int(digits) else { return nil }
            trigger.code = code
            if rest.first == "_" {
                // _x.y.z: three runs of digits.
                let afterUnderscore = rest.dropFirst()
                let end = afterUnderscore.firstIndex { !($0.isASCIIDigitCharacter || $0 == ".") } ?? afterUnderscore.endIndex
                let dotted = afterUnderscore[..<end]
                let parts = dotted.split(separator: ".", omittingEmptySubsequences: false)
                guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
                trigger.enhanced = EnhancedStatusCode(dotted)
                rest = afterUnderscore[end...]
            }
        }
        if rest.hasPrefix("del") {
            let digits = rest.dropFirst(3).prefix { $0.isASCIIDigitCharacter }
            guard !digits.isEmpty, digits.count <= 4, let seconds = Int(digits) else { return nil }
            trigger.delay = .seconds(min(seconds, 605))
            rest = rest.dropFirst(3 + digits.count)
        }
        guard rest.isEmpty, trigger.code != nil || trigger.drop || trigger.delay != nil else { return nil }
        return trigger
    }

    /// `helo421.example` / `ehlo550.x`: the code, or nil.
    public static func heloCode(_ name: String) -> Int? {
        // Cheap refusal first: the name starts with h or e and has a digit at 5.
        let utf8 = name.utf8
        guard utf8.count >= 8, let first = utf8.first, first | 0x20 == UInt8(ascii: "h") || first | 0x20 == UInt8(ascii: "e"),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(utf8[utf8.index(utf8.startIndex, offsetBy: 4)]) else { return nil }
        let lower = name.lowercased()
        guard lower.hasPrefix("helo") || lower.hasPrefix("ehlo") else { return nil }
        let rest = lower.dropFirst(4)
        guard let digits = rest.prefix(3).allDigits, digits.count == 3, rest.dropFirst(3).first == "." else { return nil }
        return Int(digits)
    }

    /// The EHLO keywords of BadSMTP, read from the first label split on `-`.
    public struct EHLOKeywords: Hashable, Sendable {
        public var reject = false
        public var delay: Duration?
        public var noPipelining = false
        public var no8BitMIME = false
        public var noSize = false
        public var size: Int?
        public var noEnhancedStatusCodes = false
        public var noSMTPUTF8 = false
        /// `nostarttls`: STARTTLS is not offered. (BadSMTP still accepts it; sinkhole answers `502 5.5.1`.)
        public var noStartTLS = false
        /// `nochunking`: CHUNKING is not offered (under BadSMTP's personality BDAT is still taken, as BadSMTP does).
        public var noChunking = false
        /// `noauth` (none), `authplain`, `authlogin`, `authcram`, `authoauth`: the mechanisms
        /// offered, of those configured; nil: as configured. Not offered is refused too.
        public var authMechanisms: [SASLMechanism]?
        /// `tlsexpired`, `tlsselfsigned`, `tlswronghost`, `tlsnotyetvalid`, `tlsuntrustedca`,
        /// `tlsweakkey`, `tlsvalid`: the certificate a STARTTLS in this session presents.
        public var tlsProfile: String?

        public var isEmpty: Bool { self == EHLOKeywords() }
    }

    /// sinkhole's own EHLO keywords for the certificate profiles.
    static let tlsProfileKeywords = [
        ("tlsvalid", "valid"), ("tlsselfsigned", "self-signed"), ("tlsexpired", "expired"), ("tlsnotyetvalid", "not-yet-valid"),
        ("tlswronghost", "wrong-host"), ("tlsuntrustedca", "untrusted-ca"), ("tlsweakkey", "weak-key"),
    ]

    public static func ehloKeywords(_ name: String) -> EHLOKeywords {
        var keywords = EHLOKeywords()
        // Most EHLO names hold none of the keywords' first letters in a row: a
        // quick look at the bytes of the first label, with no copy, first.
        var previous: UInt8 = 0
        var maybe = false
        for byte in name.utf8 {
            if byte == UInt8(ascii: ".") { break }
            let lower = byte | 0x20
            switch (previous, lower) {
            case (UInt8(ascii: "n"), UInt8(ascii: "o")), (UInt8(ascii: "d"), UInt8(ascii: "l")),
                 (UInt8(ascii: "s"), UInt8(ascii: "i")), (UInt8(ascii: "r"), UInt8(ascii: "e")), (UInt8(ascii: "a"), UInt8(ascii: "u")),
                 (UInt8(ascii: "t"), UInt8(ascii: "l")):
                maybe = true
            default: break
            }
            if maybe { break }
            previous = lower
        }
        guard maybe else { return keywords }
        let label = name.lowercased().prefix { $0 != "." }
        for part in label.split(separator: "-") {
            if part.hasPrefix("dlay") {
                if let seconds = Int(part.dropFirst(4)), seconds > 0 { keywords.delay = .seconds(min(seconds, 605)) }
                continue
            }
            if part.contains("reject") || part.contains("noehl") { keywords.reject = true }
            if part.contains("nopipelining") { keywords.noPipelining = true }
            if part.contains("no8bit") { keywords.no8BitMIME = true }
            if part.contains("nosize") { keywords.noSize = true }
            if part.contains("noenhancedstatuscodes") { keywords.noEnhancedStatusCodes = true }
            if part.contains("nosmtputf8") { keywords.noSMTPUTF8 = true }
            if part.contains("nostarttls") { keywords.noStartTLS = true }
            if part.contains("nochunking") { keywords.noChunking = true }
            for (keyword, profile) in Self.tlsProfileKeywords where part.contains(keyword) { keywords.tlsProfile = profile }
            // BadSMTP: the last part with an auth keyword wins; in a part, plain > login > cram > oauth.
            if part.contains("authplain") { keywords.authMechanisms = [.plain] }
            else if part.contains("authlogin") { keywords.authMechanisms = [.login] }
            else if part.contains("authcram") { keywords.authMechanisms = [.cramMD5, .cramSHA256] }
            else if part.contains("authoauth") { keywords.authMechanisms = [.xoauth2, .oauthBearer] }
            if keywords.size == nil, let range = part.firstRange(of: "size") {
                let digits = part[range.upperBound...].prefix { $0.isASCIIDigitCharacter }
                if let value = Int(digits.prefix(12)), value > 0 { keywords.size = value }
            }
        }
        if label.contains("noauth") { keywords.authMechanisms = [] }
        return keywords
    }

    /// VRFY by prefix of the local part: `exists…` 250, `unknown…` 551, `ambiguous…` 553; nil otherwise.
    public static func vrfyReply(_ argument: String) -> SMTPReply? {
        var address = argument.trimmingSMTPWhitespace()
        if let open = address.lastIndex(of: "<"), let close = address.lastIndex(of: ">"), open < close {
            address = address[address.index(after: open)..<close]
        }
        guard let at = address.lastIndex(of: "@") else { return nil }
        let local = address[..<at]
        let lower = local.lowercased()
        if lower.hasPrefix("exists") {
            return SMTPReply(code: .ok, "\(local)@\(address[address.index(after: at)...].lowercased()) User exists")
        }
        if lower.hasPrefix("unknown") { return reply(code: 551, enhanced: nil, enhancedOn: false) }
        if lower.hasPrefix("ambiguous") { return reply(code: 553, enhanced: nil, enhancedOn: false) }
        return nil
    }

    /// A triggered reply: BadSMTP's text for the code, with the enhanced code
    /// only when one was given and the session offers ENHANCEDSTATUSCODES.
    public static func reply(code: Int, enhanced: EnhancedStatusCode?, enhancedOn: Bool) -> SMTPReply? {
        guard let replyCode = ReplyCode(code) else { return nil }
        return SMTPReply(code: replyCode, enhanced: enhancedOn ? enhanced : nil, text(for: code))
    }

    /// BadSMTP's reply texts, by code.
    public static func text(for code: Int) -> String {
        switch code {
        case 421: "Service not available, closing transmission channel"
        case 450: "Requested mail action not taken: mailbox unavailable"
        case 451: "Requested action aborted: local error in processing"
        case 452: "Requested action not taken: insufficient system storage"
        case 500: "Syntax error, command unrecognized"
        case 501: "Syntax error in parameters or arguments"
        case 502: "Command not implemented"
        case 503: "Bad sequence of commands"
        case 504: "Command parameter not implemented"
        case 521: "Machine does not accept mail"
        case 535: "Authentication failed"
        case 550: "Requested action not taken: mailbox unavailable"
        case 551: "User not local; please try forward path"
        case 552: "Requested mail action aborted: exceeded storage allocation"
        case 553: "Requested action not taken: mailbox name not allowed"
        case 554: "Transaction failed"
        case 571: "Blocked - see https://example.com/blocked"
        default: "Unknown error"
        }
    }
}

extension Substring {
    /// The text when every character is an ASCII digit, else nil.
    fileprivate var allDigits: Substring? { allSatisfy(\.isASCIIDigitCharacter) ? self : nil }
}
