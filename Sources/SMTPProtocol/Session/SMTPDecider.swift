/// A point in a session where the policy chooses the reply. Every reply
/// sinkhole sends but syntax and sequence errors answers one of these.
public enum SMTPEvent: Hashable, Sendable {
    /// A client connected; the decision replaces the greeting.
    case connect
    /// `HELO name`
    case helo(String)
    /// `EHLO name`
    case ehlo(String)
    /// `LHLO name` (LMTP)
    case lhlo(String)
    /// `MAIL FROM:` that passed syntax and sequence checks.
    case mail(ReversePath, [MailParameter])
    /// `RCPT TO:` that passed syntax, sequence and limit checks, with its parameters.
    case rcpt(ForwardPath, [MailParameter] = [])
    /// `DATA` with at least one accepted recipient, before the `354`.
    case data
    /// `BDAT size [LAST]` in a transaction with a recipient, before its chunk is read;
    /// the reply is sent once the chunk is in. After a `LAST` chunk, ``endOfData(size:message:)`` is asked too.
    case bdat(size: Int, last: Bool)
    /// Message content: `bytes` octets of it have arrived. Asked only once
    /// the content passes ``SMTPDecider/contentThreshold``.
    case content(bytes: Int)
    /// The terminating `CRLF.CRLF` of a message within the size limit.
    /// `message` is its start (headers and body, dot-unstuffed) when the
    /// policy asked for it (``SMTPDecider/wantsMessage``), else nil.
    case endOfData(size: Int, message: String?)
    case rset
    case noop
    /// `VRFY string`
    case vrfy(String)
    case expn
    case help
    case quit
    /// `STARTTLS` on a session that offers it, not yet encrypted, outside a
    /// transaction; proceeding sends `220` and starts the handshake.
    case startTLS
    /// `XCLIENT` from an authorized client, outside a transaction; proceeding puts the
    /// attributes in the session's place (client address, HELO name, protocol, login) and greets again.
    case xclient([ProxyAttribute])
    /// `XFORWARD` from an authorized client, outside a transaction; proceeding does the same, with `250`.
    case xforward([ProxyAttribute])
    /// An AUTH exchange is complete: the decision is its answer (`.proceed`:
    /// `235`, the client is authenticated; a reply: that, such as `535 5.7.8`).
    case authenticate(SASLCredentials)
    /// A verb sinkhole knows but does not offer (`BDAT`, `ETRN`…),
    /// or one it does not know at all.
    case unknown(verb: String)

    /// The name rules and logs use: smtp-sink's (`CONNECT`, `MAIL`, `.`).
    public var name: String {
        switch self {
        case .connect: "CONNECT"
        case .helo: "HELO"
        case .ehlo: "EHLO"
        case .lhlo: "LHLO"
        case .mail: "MAIL"
        case .rcpt: "RCPT"
        case .data: "DATA"
        case .bdat: "BDAT"
        case .content: "CONTENT"
        case .endOfData: "."
        case .rset: "RSET"
        case .noop: "NOOP"
        case .vrfy: "VRFY"
        case .expn: "EXPN"
        case .help: "HELP"
        case .quit: "QUIT"
        case .startTLS: "STARTTLS"
        case .authenticate: "AUTH"
        case .xclient: "XCLIENT"
        case .xforward: "XFORWARD"
        case .unknown: "UNKNOWN"
        }
    }
}

/// What the server does with a decision's reply, or instead of one.
public enum SMTPDecisionAction: Hashable, Sendable {
    /// The protocol's normal reply (`250`, `354`, `220`…).
    case proceed
    /// The command takes effect, with this reply instead of the normal one
    /// (a mode's own accept text). A `421` also closes.
    case proceedWith(SMTPReply)
    /// This reply instead; the command does not take effect. A `421` also closes.
    case reply(SMTPReply)
    /// This reply, then close the connection.
    case replyAndClose(SMTPReply)
    /// Close the connection without a reply (a FIN).
    case disconnect
    /// Reset the connection (an RST).
    case reset
    /// Never answer: read and discard until the client gives up or a session limit fires.
    case hang
    /// STARTTLS only: send this `220` (nil: the normal one), then break the handshake that should follow.
    case breakTLS(SMTPReply?, TLSBreak)
}

/// How a STARTTLS that a rule accepted goes wrong after its `220`.
public enum TLSBreak: String, Hashable, Sendable {
    /// Close the connection: no handshake at all.
    case close
    /// Send bytes that are no TLS record, then close.
    case garbage
}

extension SMTPDecisionAction {
    /// `true` for `.proceed` and `.proceedWith`: the command does what it normally does.
    public var takesEffect: Bool {
        switch self {
        case .proceed, .proceedWith: true
        default: false
        }
    }
}

/// How a reply goes on the wire: at once, after a delay, or slowly.
public struct SMTPDelivery: Hashable, Sendable {
    // Stored as three words with a sentinel for "none" (24 bytes, nothing to retain),
    // not as optionals (49 bytes): every state machine and decision holds a delivery,
    // and 10,000 idle connections hold 10,000 state machines. Inlinable, so asking an
    // immediate one costs a compare in the caller's module.
    @inlinable static var none: Int64 { .min }
    @usableFromInline var delayNanoseconds = none
    @usableFromInline var rate = Int.min
    @usableFromInline var piece = Int.min

    /// Wait this long before acting (replying, closing). Later replies wait behind it.
    /// Kept to the nanosecond (and to ±292 years).
    @inlinable public var delay: Duration? {
        get { delayNanoseconds == Self.none ? nil : .nanoseconds(delayNanoseconds) }
        set { delayNanoseconds = newValue.map(Self.nanoseconds) ?? Self.none }
    }
    /// Write the reply this many bytes a second (at least one byte a write).
    @inlinable public var bytesPerSecond: Int? {
        get { rate == .min ? nil : rate }
        set { rate = newValue.map { max($0, .min + 1) } ?? .min }
    }
    /// Write the reply in pieces of this many bytes, one write each.
    @inlinable public var pieceSize: Int? {
        get { piece == .min ? nil : piece }
        set { piece = newValue.map { max($0, .min + 1) } ?? .min }
    }

    @inlinable public init() {}

    public init(delay: Duration? = nil, bytesPerSecond: Int? = nil, pieceSize: Int? = nil) {
        self.delay = delay
        self.bytesPerSecond = bytesPerSecond
        self.pieceSize = pieceSize
    }

    /// `duration` in nanoseconds, clamped to what an Int64 holds (the sentinel excluded).
    /// Not SwiftNIO's `TimeAmount(duration)`: that clamps a large negative duration to
    /// the largest positive one (DeliveryTests catches it).
    @usableFromInline static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, carry) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow || carry { return seconds < 0 ? none + 1 : .max }
        return max(sum, none + 1)
    }

    /// Computed, not stored: a static stored property costs a lazy-initialisation check on every use.
    @inlinable public static var immediate: SMTPDelivery { SMTPDelivery() }
    @inlinable public var isImmediate: Bool { delayNanoseconds == Self.none && rate == .min && piece == .min }
}

/// What the session offers in its EHLO reply, and the limits that go with it.
/// The policy may change them per session (BadSMTP's EHLO keywords, smtp-sink's
/// `-r`/`-f` withdrawing PIPELINING).
public struct SessionCapabilities: Hashable, Sendable {
    public var pipelining = true
    /// The advertised `SIZE`; nil leaves the keyword out (the limit still holds).
    public var advertisedSize: Int?
    public var maxMessageSize: Int
    public var eightBitMIME = true
    public var enhancedStatusCodes = true
    public var smtpUTF8 = true
    /// `STARTTLS`: advertised, and accepted (a session that does not offer it answers `502 5.5.1`).
    public var startTLS = false
    /// `DSN` (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT.
    public var dsn = true
    /// `CHUNKING` (RFC 3030): BDAT; and `BINARYMIME` with it, `BODY=BINARYMIME` on MAIL.
    public var chunking = true
    public var binaryMIME = true
    /// Postfix's `XCLIENT` and `XFORWARD`: offered only to the clients `--xclient-from` names.
    public var xclient = false
    public var xforward = false
    /// `AUTH`'s mechanisms, advertised and accepted; empty: AUTH not offered.
    public var authMechanisms: [SASLMechanism] = []
    /// Extra keywords, each a line of the EHLO reply, after the standard ones.
    public var extra: [String] = []

    public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
        self.advertisedSize = maxMessageSize
    }

    /// Whether a MAIL (`onMail`) or RCPT parameter other than SIZE, BODY and
    /// SMTPUTF8 belongs to an extension the session advertises: DSN's RET and
    /// ENVID on MAIL, NOTIFY and ORCPT on RCPT; any other extension's own
    /// keyword (`MT-PRIORITY`, `REQUIRETLS`).
    public func accepts(_ keyword: String, onMail: Bool) -> Bool {
        if dsn, let dsnKeyword = DSNKeyword(rawValue: keyword), dsnKeyword.onMail == onMail { return true }
        for line in extra {
            let name = line.prefix { $0 != " " }.uppercased()
            if name == keyword { return true }
            if name == "DSN" && (onMail ? ["RET", "ENVID"] : ["NOTIFY", "ORCPT"]).contains(keyword) { return true }
        }
        return false
    }

    private static let xclientKeyword = "XCLIENT " + ProxyAttribute.xclientNames.joined(separator: " ")
    private static let xforwardKeyword = "XFORWARD " + ProxyAttribute.xforwardNames.joined(separator: " ")

    /// The EHLO keywords, in the order sinkhole writes them.
    public var keywords: [String] {
        var out: [String] = []
        if pipelining { out.append("PIPELINING") }
        if let advertisedSize { out.append("SIZE \(advertisedSize)") }
        if startTLS { out.append("STARTTLS") }
        if !authMechanisms.isEmpty { out.append("AUTH " + authMechanisms.map(\.rawValue).joined(separator: " ")) }
        if eightBitMIME { out.append("8BITMIME") }
        if enhancedStatusCodes { out.append("ENHANCEDSTATUSCODES") }
        if smtpUTF8 { out.append("SMTPUTF8") }
        if dsn { out.append("DSN") }
        if chunking {
            out.append("CHUNKING")
            if binaryMIME { out.append("BINARYMIME") }
        }
        if xclient { out.append(Self.xclientKeyword) }
        if xforward { out.append(Self.xforwardKeyword) }
        // An extra keyword sinkhole offers already (James's `/smtpExtensions` adding DSN) is not said twice.
        for line in extra {
            let name = line.prefix { $0 != " " }.uppercased()
            if !out.contains(where: { $0.prefix { $0 != " " }.uppercased() == name }) { out.append(line) }
        }
        return out
    }
}

/// Changes to a session's capabilities; nil leaves a capability as configured.
public struct CapabilityAdjustments: Hashable, Sendable {
    public var pipelining: Bool?
    public var eightBitMIME: Bool?
    public var advertiseSize: Bool?
    /// A lower message size limit (never above the configured one).
    public var maxMessageSize: Int?
    public var enhancedStatusCodes: Bool?
    public var smtpUTF8: Bool?
    /// `false` withholds STARTTLS (BadSMTP's `nostarttls`); it cannot be offered where it is not configured.
    public var startTLS: Bool?
    /// AUTH offers only these of the configured mechanisms (BadSMTP's `authplain`; `noauth`: none).
    public var authMechanisms: [SASLMechanism]?
    /// `false` withholds CHUNKING (BadSMTP's `nochunking`; BDAT is still taken under its personality).
    public var chunking: Bool?
    /// The certificate profile a STARTTLS in this session presents (`tlsexpired` in the EHLO name).
    public var tlsProfile: String?
    /// More keywords, after the configured ones (James's `/smtpExtensions`).
    public var extra: [String]?

    public init(pipelining: Bool? = nil, eightBitMIME: Bool? = nil, advertiseSize: Bool? = nil,
                maxMessageSize: Int? = nil, enhancedStatusCodes: Bool? = nil, smtpUTF8: Bool? = nil,
                startTLS: Bool? = nil, authMechanisms: [SASLMechanism]? = nil, extra: [String]? = nil) {
        self.extra = extra
        self.authMechanisms = authMechanisms
        self.startTLS = startTLS
        self.pipelining = pipelining
        self.eightBitMIME = eightBitMIME
        self.advertiseSize = advertiseSize
        self.maxMessageSize = maxMessageSize
        self.enhancedStatusCodes = enhancedStatusCodes
        self.smtpUTF8 = smtpUTF8
    }

    public func applied(to base: SessionCapabilities) -> SessionCapabilities {
        var out = base
        if let pipelining { out.pipelining = pipelining }
        if let eightBitMIME { out.eightBitMIME = eightBitMIME }
        if let maxMessageSize { out.maxMessageSize = min(maxMessageSize, base.maxMessageSize) }
        out.advertisedSize = (advertiseSize ?? (base.advertisedSize != nil)) ? out.maxMessageSize : nil
        if let enhancedStatusCodes { out.enhancedStatusCodes = enhancedStatusCodes }
        if let smtpUTF8 { out.smtpUTF8 = smtpUTF8 }
        if let startTLS { out.startTLS = base.startTLS && startTLS }
        if let chunking { out.chunking = base.chunking && chunking }
        if let authMechanisms { out.authMechanisms = base.authMechanisms.filter(authMechanisms.contains) }
        if let extra { out.extra += extra }
        return out
    }
}

/// What the policy decided for an ``SMTPEvent``.
///
/// Most decisions are `.proceed` with nothing else: a delivery other than at
/// once and capability changes live in a box, so a decision stays a few
/// words to copy on every command.
public struct SMTPDecision: Hashable, Sendable {
    public var action: SMTPDecisionAction
    private var details: Details?

    private final class Details: Hashable, Sendable {
        let delivery: SMTPDelivery
        let adjustments: CapabilityAdjustments?
        let deliver: Bool?

        init(delivery: SMTPDelivery, adjustments: CapabilityAdjustments?, deliver: Bool?) {
            self.delivery = delivery
            self.adjustments = adjustments
            self.deliver = deliver
        }

        @inline(__always)
        static func make(_ delivery: SMTPDelivery, _ adjustments: CapabilityAdjustments?, _ deliver: Bool? = nil) -> Details? {
            delivery.isImmediate && adjustments == nil && deliver == nil
                ? nil : Details(delivery: delivery, adjustments: adjustments, deliver: deliver)
        }

        static func == (a: Details, b: Details) -> Bool {
            a.delivery == b.delivery && a.adjustments == b.adjustments && a.deliver == b.deliver
        }
        func hash(into hasher: inout Hasher) { hasher.combine(delivery); hasher.combine(adjustments); hasher.combine(deliver) }
    }

    public init(_ action: SMTPDecisionAction, delivery: SMTPDelivery = .immediate,
                adjustments: CapabilityAdjustments? = nil) {
        self.action = action
        self.details = Details.make(delivery, adjustments)
    }

    /// How the reply goes on the wire.
    public var delivery: SMTPDelivery {
        get { details?.delivery ?? .immediate }
        set { details = Details.make(newValue, details?.adjustments, details?.deliver) }
    }

    /// For an EHLO that proceeds: how this session's offer differs from the configured one.
    public var adjustments: CapabilityAdjustments? {
        get { details?.adjustments }
        set { details = Details.make(details?.delivery ?? .immediate, newValue, details?.deliver) }
    }

    /// For RCPT and the final dot: whether captured mail keeps the recipient or
    /// the message whatever the reply said (a rule's `deliver`); nil: as the reply says.
    public var deliver: Bool? {
        get { details?.deliver }
        set { details = Details.make(details?.delivery ?? .immediate, details?.adjustments, newValue) }
    }

    /// Computed, not stored (see ``SMTPDelivery/immediate``).
    public static var proceed: SMTPDecision { SMTPDecision(.proceed) }

    /// `true` for a decision with no delivery or capability changes (most of them).
    public var isPlain: Bool { details == nil }
    public static func reply(_ reply: SMTPReply) -> SMTPDecision { SMTPDecision(.reply(reply)) }
}

/// What the policy sees of a session when it decides.
public struct SessionSnapshot: Hashable, Sendable {
    /// The client's IP address, without the port.
    public var clientIP: String?
    /// The HELO/EHLO argument.
    public var heloName: String?
    /// The MAIL FROM of the open transaction.
    public var reversePath: ReversePath?
    /// Recipients accepted so far in the open transaction.
    public var recipients: [ForwardPath]
    /// Recipients accepted so far in the open transaction.
    public var acceptedRecipients: Int { recipients.count }
    /// Who AUTH said the client is, once it succeeded.
    public var authenticatedUser: String?
    /// LMTP's end of data: the index in ``recipients`` of the recipient being answered.
    public var deliveringTo: Int?
    /// `true` once the client said EHLO (not HELO) in this session. (The Bools last, in
    /// the bytes the optional Int leaves: every session carries a snapshot.)
    public var extended: Bool
    /// `true` on an encrypted connection: implicit TLS, or after STARTTLS.
    public var tls = false

    public init(clientIP: String?, heloName: String? = nil, reversePath: ReversePath? = nil,
                recipients: [ForwardPath] = [], extended: Bool = false) {
        self.clientIP = clientIP
        self.heloName = heloName
        self.reversePath = reversePath
        self.recipients = recipients
        self.extended = extended
    }
}

/// Chooses replies at the points of a session listed in ``SMTPEvent``. The
/// session state machine calls it as a plain function: no I/O, no waiting.
public protocol SMTPDecider {
    mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision
    /// The content size at which ``SMTPEvent/content(bytes:)`` is first asked; nil: never.
    var contentThreshold: Int? { get }
    /// Whether ``SMTPEvent/endOfData(size:message:)`` should carry the message.
    var wantsMessage: Bool { get }
    /// A CRAM challenge, `<random.seconds@hostname>` (RFC 2195): unique per exchange.
    mutating func saslChallenge(hostname: String) -> String
}

extension SMTPDecider {
    public var contentThreshold: Int? { nil }
    public var wantsMessage: Bool { false }
    public mutating func saslChallenge(hostname: String) -> String { "<1.1@\(hostname)>" }
}

/// A decider that always proceeds: every recipient and message accepted.
public struct AcceptAllDecider: SMTPDecider, Sendable {
    public init() {}
    public func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision { .proceed }
}
