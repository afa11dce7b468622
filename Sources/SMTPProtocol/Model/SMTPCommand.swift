/// A command from the client, parsed.
///
/// - SeeAlso: [RFC 5321 §4.1.1](https://www.rfc-editor.org/rfc/rfc5321#section-4.1.1)
public enum SMTPCommand: Hashable, Sendable {
    /// `HELO client.example.com`
    case helo(domain: String)
    /// `EHLO client.example.com`
    case ehlo(domain: String)
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
    /// A verb sinkhole knows but does not offer: `EXPN`, `ETRN`, `TURN`.
    case notImplemented(verb: String)

    /// The verb, upper-cased, for logs and counters.
    public var verb: String {
        switch self {
        case .helo: return "HELO"
        case .ehlo: return "EHLO"
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
        case .notImplemented(let verb): return verb
        }
    }
}
