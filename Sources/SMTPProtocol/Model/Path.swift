/// A mailbox, `local-part@domain`.
///
/// - SeeAlso: [RFC 5321 §4.1.2](https://www.rfc-editor.org/rfc/rfc5321#section-4.1.2)
public struct Mailbox: Hashable, Sendable, CustomStringConvertible {
    /// The part before the last `@`, as sent (a quoted string keeps its quotes).
    public var localPart: String
    /// The domain or address literal after the last `@`.
    public var domain: String

    public init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain
    }

    public var description: String { "\(localPart)@\(domain)" }

    /// A UTF-8 address (RFC 6531): a byte outside ASCII in either part.
    public var isInternationalized: Bool { Self.hasNonASCII(localPart) || Self.hasNonASCII(domain) }

    /// One pass over the bytes, OR-ing them: asked for every MAIL and RCPT without SMTPUTF8.
    private static func hasNonASCII(_ text: String) -> Bool {
        if let found = text.utf8.withContiguousStorageIfAvailable({ bytes in bytes.reduce(0, |) & 0x80 != 0 }) { return found }
        return text.utf8.contains { $0 >= 0x80 }
    }
}

/// The argument of `MAIL FROM:` — a mailbox, or the null path `<>` that
/// bounces and other notifications use.
///
/// - SeeAlso: [RFC 5321 §4.1.1.2](https://www.rfc-editor.org/rfc/rfc5321#section-4.1.1.2)
public enum ReversePath: Hashable, Sendable, CustomStringConvertible {
    /// `MAIL FROM:<>`
    case null
    /// `MAIL FROM:<user@example.com>`
    case mailbox(Mailbox)

    public var description: String {
        switch self {
        case .null: return "<>"
        case .mailbox(let mailbox): return "<\(mailbox)>"
        }
    }
}

/// The argument of `RCPT TO:` — a mailbox, or the bare `<Postmaster>` every
/// server must accept.
///
/// - SeeAlso: [RFC 5321 §4.1.1.3](https://www.rfc-editor.org/rfc/rfc5321#section-4.1.1.3)
public enum ForwardPath: Hashable, Sendable, CustomStringConvertible {
    /// `RCPT TO:<Postmaster>`
    case postmaster
    /// `RCPT TO:<user@example.com>`
    case mailbox(Mailbox)

    public var description: String {
        switch self {
        case .postmaster: return "<Postmaster>"
        case .mailbox(let mailbox): return "<\(mailbox)>"
        }
    }
}

/// The `BODY=` parameter of MAIL FROM.
///
/// - SeeAlso: [RFC 6152](https://www.rfc-editor.org/rfc/rfc6152)
public enum BodyType: String, Hashable, Sendable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
    /// Binary content, sent only with BDAT (RFC 3030 §3).
    case binaryMIME = "BINARYMIME"
}

/// The DSN parameters of MAIL FROM and RCPT TO.
///
/// - SeeAlso: [RFC 3461 §4](https://www.rfc-editor.org/rfc/rfc3461#section-4)
public enum DSNKeyword: String, Hashable, Sendable, CaseIterable {
    /// `RET=FULL|HDRS` on MAIL: what a failure notice returns of the message.
    case ret = "RET"
    /// `ENVID=xtext` on MAIL: the sender's name for the transaction.
    case envid = "ENVID"
    /// `NOTIFY=NEVER` or a list of `SUCCESS`, `FAILURE`, `DELAY` on RCPT.
    case notify = "NOTIFY"
    /// `ORCPT=addr-type;xtext` on RCPT: the recipient as the sender first wrote it.
    case orcpt = "ORCPT"

    /// Whether the parameter belongs on MAIL (`RET`, `ENVID`) rather than RCPT.
    public var onMail: Bool { self == .ret || self == .envid }
}

/// An ESMTP parameter of MAIL FROM or RCPT TO.
///
/// ```
/// MAIL FROM:<a@example.com> SIZE=1024 BODY=8BITMIME SMTPUTF8
/// ```
public enum MailParameter: Hashable, Sendable {
    /// `SIZE=<bytes>` — the client's estimate of the message size.
    /// - SeeAlso: [RFC 1870](https://www.rfc-editor.org/rfc/rfc1870)
    case size(Int)
    /// `BODY=7BIT` or `BODY=8BITMIME`.
    case body(BodyType)
    /// `SMTPUTF8` — addresses and headers may be UTF-8.
    /// - SeeAlso: [RFC 6531](https://www.rfc-editor.org/rfc/rfc6531)
    case smtpUTF8
    /// A DSN parameter, validated: `RET` and `NOTIFY` upper-cased, `ENVID` and `ORCPT` as sent.
    /// - SeeAlso: [RFC 3461](https://www.rfc-editor.org/rfc/rfc3461)
    case dsn(DSNKeyword, String)
    /// Another parameter, kept as written (`RET=HDRS`, `NOTIFY=FAILURE`):
    /// taken only when an extension the session advertises owns it
    /// (``SessionCapabilities/accepts(_:onMail:)``), else `555 5.5.4`.
    case other(keyword: String, value: String?)

    /// The value as text (empty for a keyword without one), for rules and captured mail.
    public var valueText: String {
        switch self {
        case .size(let size): String(size)
        case .body(let body): body.rawValue
        case .smtpUTF8: ""
        case .dsn(_, let value): value
        case .other(_, let value): value ?? ""
        }
    }

    /// The keyword, upper-cased.
    public var keyword: String {
        switch self {
        case .size: "SIZE"
        case .body: "BODY"
        case .smtpUTF8: "SMTPUTF8"
        case .dsn(let keyword, _): keyword.rawValue
        case .other(let keyword, _): keyword.uppercased()
        }
    }
}
