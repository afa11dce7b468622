/// One `NAME=value` of XCLIENT or XFORWARD, the value xtext-decoded; nil for
/// `[UNAVAILABLE]` and `[TEMPUNAVAIL]` (the proxy does not know it).
public struct ProxyAttribute: Hashable, Sendable {
    public var name: String
    public var value: String?

    public init(_ name: String, _ value: String?) {
        self.name = name
        self.value = value
    }

    /// XCLIENT's attributes (Postfix's XCLIENT_README) and XFORWARD's (XFORWARD_README).
    public static let xclientNames = ["NAME", "REVERSE_NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"]
    public static let xforwardNames = ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"]
}

/// A command from the client, parsed.
///
/// - SeeAlso: [RFC 5321 §4.1.1](https://www.rfc-editor.org/rfc/rfc5321#section-4.1.1)
public enum SMTPCommand: Hashable, Sendable {
    /// `HELO client.example.com`
    case helo(domain: String)
    /// `EHLO client.example.com`
    case ehlo(domain: String)
    /// `LHLO client.example.com` (LMTP, RFC 2033)
    case lhlo(domain: String)
    /// `MAIL FROM:<a@example.com> SIZE=100`
    case mail(from: ReversePath, parameters: [MailParameter])
    /// `RCPT TO:<b@example.com>`
    case rcpt(to: ForwardPath, parameters: [MailParameter] = [])
    /// `DATA`
    case data
    /// `RSET`
    case rset
    /// `NOOP [string]`
    case noop
    /// `QUIT`
    case quit
    /// `VRFY <string>`
    case vrfy(String)
    /// `HELP [string]`
    case help
    /// `STARTTLS` (RFC 3207); takes no parameters.
    case startTLS
    /// `AUTH mechanism [initial-response]` (RFC 4954); the mechanism upper-cased.
    case auth(mechanism: String, initialResponse: String?)
    /// `BDAT chunk-size [LAST]` (RFC 3030): exactly `size` octets of message follow the line.
    case bdat(size: Int, last: Bool)
    /// Postfix's `XCLIENT attr=value...`: a trusted proxy names the client it speaks for.
    case xclient([ProxyAttribute])
    /// Postfix's `XFORWARD attr=value...`: a content filter names where the mail came from.
    case xforward([ProxyAttribute])
    /// A verb sinkhole knows but does not offer: `EXPN`, `ETRN`, `TURN`.
    case notImplemented(verb: String)

    /// The verb, upper-cased, for logs and counters.
    public var verb: String {
        switch self {
        case .helo: return "HELO"
        case .ehlo: return "EHLO"
        case .lhlo: return "LHLO"
        case .mail: return "MAIL"
        case .rcpt: return "RCPT"
        case .data: return "DATA"
        case .rset: return "RSET"
        case .noop: return "NOOP"
        case .quit: return "QUIT"
        case .vrfy: return "VRFY"
        case .help: return "HELP"
        case .startTLS: return "STARTTLS"
        case .auth: return "AUTH"
        case .bdat: return "BDAT"
        case .xclient: return "XCLIENT"
        case .xforward: return "XFORWARD"
        case .notImplemented(let verb): return verb
        }
    }
}
