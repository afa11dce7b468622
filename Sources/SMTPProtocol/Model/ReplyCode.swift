/// A three-digit SMTP reply code.
///
/// The first digit says how the command went: `2` done, `3` go on, `4` try
/// again later, `5` never.
///
/// - SeeAlso: [RFC 5321 §4.2](https://www.rfc-editor.org/rfc/rfc5321#section-4.2)
public struct ReplyCode: Hashable, Sendable, CustomStringConvertible {
    public let value: Int

    /// Codes outside 200...599 are not SMTP replies; returns nil for them.
    public init?(_ value: Int) {
        guard (200...599).contains(value) else { return nil }
        self.value = value
    }

    private init(unchecked value: Int) { self.value = value }

    public var description: String { String(value) }

    /// `2yz`: the command was accepted.
    public var isPositive: Bool { value < 300 }
    /// `4yz`: a transient failure; the client should retry.
    public var isTransient: Bool { (400..<500).contains(value) }
    /// `5yz`: a permanent failure.
    public var isPermanent: Bool { value >= 500 }

    public static let systemHelp = ReplyCode(unchecked: 214)
    public static let serviceReady = ReplyCode(unchecked: 220)
    public static let closing = ReplyCode(unchecked: 221)
    /// `235`: authentication succeeded (RFC 4954).
    public static let authSucceeded = ReplyCode(unchecked: 235)
    /// `334`: a SASL challenge; the client answers with one line (RFC 4954).
    public static let authChallenge = ReplyCode(unchecked: 334)
    public static let ok = ReplyCode(unchecked: 250)
    public static let cannotVerify = ReplyCode(unchecked: 252)
    public static let startMailInput = ReplyCode(unchecked: 354)
    /// `421`: the server closes the connection after sending it (RFC 5321 §3.8).
    public static let serviceNotAvailable = ReplyCode(unchecked: 421)
    /// `454`: TLS (or authentication) not available for now (RFC 3207).
    public static let tlsNotAvailable = ReplyCode(unchecked: 454)
    public static let mailboxBusy = ReplyCode(unchecked: 450)
    public static let localError = ReplyCode(unchecked: 451)
    public static let insufficientStorage = ReplyCode(unchecked: 452)
    public static let syntaxError = ReplyCode(unchecked: 500)
    public static let parameterSyntaxError = ReplyCode(unchecked: 501)
    public static let notImplemented = ReplyCode(unchecked: 502)
    public static let badSequence = ReplyCode(unchecked: 503)
    /// `530`: authentication (or TLS) required first (RFC 3207, RFC 4954).
    public static let authenticationRequired = ReplyCode(unchecked: 530)
    public static let mailboxUnavailable = ReplyCode(unchecked: 550)
    public static let exceededStorage = ReplyCode(unchecked: 552)
    /// Mailbox name not allowed (RFC 5321 §4.2.3); RFC 6531 uses it for an undeclared UTF-8 address.
    public static let mailboxNameNotAllowed = ReplyCode(unchecked: 553)
    public static let transactionFailed = ReplyCode(unchecked: 554)
    public static let parameterNotImplemented = ReplyCode(unchecked: 555)
    /// `504`: a parameter (an AUTH mechanism) not implemented.
    public static let parameterNotImplemented504 = ReplyCode(unchecked: 504)
    /// `535`: authentication credentials invalid (RFC 4954).
    public static let authFailed = ReplyCode(unchecked: 535)
    /// `538`: encryption required for the mechanism (RFC 4954).
    public static let encryptionRequired = ReplyCode(unchecked: 538)
}
