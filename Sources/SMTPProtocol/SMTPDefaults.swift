/// The limits sinkhole enforces, with their defaults. Each has a flag.
public enum SMTPDefaults {
    /// Longest command line accepted, CRLF excluded. RFC 5321 §4.5.3.1.4 sets
    /// 512 octets as the least a server must take; extensions make lines
    /// longer, so the default is higher.
    public static let commandLineLengthLimit = 2048
    /// Largest message accepted, in octets (advertised as `SIZE`).
    public static let maxMessageSize = 25 * 1024 * 1024
    /// Most recipients in one transaction (RFC 5321 §4.5.3.1.8 asks for at least 100).
    public static let maxRecipients = 1000
    /// Most connections open at once; the next is answered `421 4.7.0` and closed.
    public static let maxConnections = 10_000
    /// Command errors (syntax, sequence, unknown command, line too long) a
    /// session may make before `421 4.7.0 Too many errors` (Postfix's
    /// `smtpd_hard_error_limit` is 20 too).
    public static let maxErrors = 20
    /// Seconds a client may stay silent before `421 4.4.2 Idle timeout`.
    public static let idleTimeoutSeconds = 300
    /// Longest a whole session may last, however busy (a client trickling a
    /// byte every few seconds never trips the idle timeout).
    public static let sessionTimeLimitSeconds = 1800
    /// Longest the content of one message may take, from 354 to the final dot.
    public static let dataTimeLimitSeconds = 600
    /// Longest path (address with its angle brackets), RFC 5321 §4.5.3.1.3.
    public static let pathLengthLimit = 256
}
