/// One SMTP reply: a code, an optional enhanced status code, and one or more
/// lines of text.
///
/// On the wire every line but the last is written `250-text`, the last
/// `250 text`; the enhanced code prefixes each line's text.
///
/// ```
/// 250-sinkhole.test
/// 250 PIPELINING
/// ```
///
/// Every reply text sinkhole sends is defined in this file (and in
/// ``SMTPReply/ehlo(hostname:extensions:)``), so the protocol loop never
/// spells one out.
///
/// - SeeAlso: [RFC 5321 §4.2](https://www.rfc-editor.org/rfc/rfc5321#section-4.2)
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    public var code: ReplyCode
    public var enhanced: EnhancedStatusCode?
    public var lines: [String]

    public init(code: ReplyCode, enhanced: EnhancedStatusCode? = nil, lines: [String]) {
        precondition(!lines.isEmpty, "a reply has at least one line")
        self.code = code
        self.enhanced = enhanced
        self.lines = lines
    }

    public init(code: ReplyCode, enhanced: EnhancedStatusCode? = nil, _ text: String) {
        self.init(code: code, enhanced: enhanced, lines: [text])
    }

    /// `true` for a `421`, after which the server closes the connection.
    public var closesConnection: Bool { code == .serviceNotAvailable }

    /// The reply as it goes on the wire, CRLF included.
    public var description: String {
        var out = ""
        for (index, line) in lines.enumerated() {
            out += String(code.value)
            out += index == lines.count - 1 ? " " : "-"
            if let enhanced { out += "\(enhanced) " }
            out += line
            out += "\r\n"
        }
        return out
    }
}

// MARK: - Parsing a reply given by an operator

extension SMTPReply {
    /// Parses an operator's reply such as `"451 4.7.1 Greylisted"` or
    /// `"550 No such user"`. The code must be 200–599; the enhanced code is
    /// optional, and its class must match the code's first digit.
    public init?(operatorText: String) {
        let trimmed = operatorText.trimmingSMTPWhitespace()
        guard trimmed.utf8.count >= 3, trimmed.utf8.count <= 510,
              trimmed.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else { return nil }
        let codeText = trimmed.prefix(3)
        guard codeText.allSatisfy(\.isASCIIDigit), let number = Int(codeText), let code = ReplyCode(number) else {
            return nil
        }
        var rest = trimmed.dropFirst(3)
        if let first = rest.first {
            guard first == " " else { return nil }
            rest = rest.dropFirst()
        }
        var enhanced: EnhancedStatusCode?
        let firstWord = rest.prefix { $0 != " " }
        if let parsed = EnhancedStatusCode(firstWord) {
            guard parsed.statusClass == number / 100 else { return nil }
            enhanced = parsed
            rest = rest.dropFirst(firstWord.count).drop { $0 == " " }
        }
        let text = String(rest)
        self.init(code: code, enhanced: enhanced, text.isEmpty ? "OK" : text)
    }
}

extension StringProtocol {
    /// Drops spaces, tabs, CR and LF at both ends (shared with the policy's mode names).
    package func trimmingSMTPWhitespace() -> SubSequence {
        // "\r\n" is a single Character, so it is named too.
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let start = firstIndex(where: { !isSpace($0) }),
              let end = lastIndex(where: { !isSpace($0) })
        else { return self[endIndex...] }
        return self[start...end]
    }
}

// MARK: - The replies sinkhole sends

extension SMTPReply {
    private static func make(_ code: ReplyCode, _ c: Int, _ s: Int, _ d: Int, _ text: String) -> SMTPReply {
        SMTPReply(code: code, enhanced: EnhancedStatusCode(c, s, d), text)
    }

    /// `220 <hostname> ESMTP sinkhole`
    public static func greeting(hostname: String) -> SMTPReply {
        SMTPReply(code: .serviceReady, "\(hostname) ESMTP sinkhole")
    }

    /// `250 <hostname>` — the answer to HELO.
    public static func helo(hostname: String) -> SMTPReply {
        SMTPReply(code: .ok, hostname)
    }

    /// The multi-line answer to EHLO: the hostname, then one extension a line.
    public static func ehlo(hostname: String, extensions: [String]) -> SMTPReply {
        SMTPReply(code: .ok, lines: [hostname] + extensions)
    }

    /// `250 2.1.0 OK` — MAIL FROM accepted.
    public static let senderOK = make(.ok, 2, 1, 0, "OK")
    /// `250 2.1.5 OK` — RCPT TO accepted.
    public static let recipientOK = make(.ok, 2, 1, 5, "OK")
    /// `250 2.0.0 OK` — RSET, NOOP.
    public static let ok = make(.ok, 2, 0, 0, "OK")
    /// `354 End data with <CR><LF>.<CR><LF>`
    public static let startMailInput = SMTPReply(code: .startMailInput, "End data with <CR><LF>.<CR><LF>")
    /// `250 2.0.0 OK queued as <id>`
    public static func queued(id: String) -> SMTPReply { make(.ok, 2, 0, 0, "OK queued as \(id)") }
    /// `250 2.0.0 OK <n> octets received` — a BDAT chunk other than the last.
    public static func chunkReceived(octets: Int) -> SMTPReply { make(.ok, 2, 0, 0, "OK \(octets) octets received") }
    /// `503 5.5.1 DATA not allowed after BDAT`: a transaction is sent one way (RFC 3030 §2).
    public static let dataAfterBDAT = badSequence("DATA not allowed after BDAT")
    /// `503 5.5.1 BODY=BINARYMIME requires BDAT` (RFC 3030 §3).
    public static let binaryNeedsBDAT = badSequence("BODY=BINARYMIME requires BDAT")
    /// `553 5.6.7 Must declare SMTPUTF8 to send a UTF-8 address` (RFC 6531 §3.4).
    public static let utf8AddressUndeclared = make(.mailboxNameNotAllowed, 5, 6, 7, "Must declare SMTPUTF8 to send a UTF-8 address")
    /// `550 5.7.0 Insufficient authorization`: XCLIENT or XFORWARD from a client not in `--xclient-from` (Postfix's words, without "Error:").
    public static let proxyNotAuthorized = make(.mailboxUnavailable, 5, 7, 0, "Insufficient authorization")
    /// `503 5.5.1 MAIL transaction in progress`: XCLIENT or XFORWARD inside a transaction.
    public static let proxyInTransaction = badSequence("MAIL transaction in progress")
    /// `500 5.5.1 This is LMTP: say LHLO` — HELO or EHLO on an LMTP listener (RFC 2033 §4.1).
    public static let lmtpNeedsLHLO = make(.syntaxError, 5, 5, 1, "This is LMTP: say LHLO")
    /// `500 5.5.1 This is SMTP: say EHLO` — LHLO on an SMTP listener.
    public static let smtpNeedsEHLO = make(.syntaxError, 5, 5, 1, "This is SMTP: say EHLO")
    /// `250 2.0.0 <rcpt> OK queued as <id>` — one LMTP recipient's delivery.
    public static func delivered(to recipient: ForwardPath, id: String) -> SMTPReply {
        make(.ok, 2, 0, 0, "\(recipient) OK queued as \(id)")
    }
    /// `221 2.0.0 Bye`
    public static let bye = make(.closing, 2, 0, 0, "Bye")
    /// STARTTLS accepted: the TLS handshake follows (RFC 3207 §4; Postfix's words).
    public static let readyToStartTLS = make(.serviceReady, 2, 0, 0, "Ready to start TLS")
    /// STARTTLS on a connection that is already encrypted.
    public static let tlsAlreadyActive = make(.transactionFailed, 5, 5, 1, "TLS already active")
    /// STARTTLS inside a mail transaction.
    public static let startTLSInTransaction = make(.badSequence, 5, 5, 1, "STARTTLS not allowed during a mail transaction")
    /// MAIL before STARTTLS under `--require-tls` (RFC 3207 §4).
    public static let mustStartTLS = make(.authenticationRequired, 5, 7, 0, "Must issue a STARTTLS command first")
    /// AUTH's replies (RFC 4954 §4, §6).
    public static let authSucceeded = make(.authSucceeded, 2, 7, 0, "Authentication successful")
    public static let authFailed = make(.authFailed, 5, 7, 8, "Authentication credentials invalid")
    public static let authCancelled = make(.parameterSyntaxError, 5, 7, 0, "Authentication cancelled")
    public static let authUndecodable = make(.parameterSyntaxError, 5, 5, 2, "Cannot decode the response (not base64)")
    public static let authMalformed = make(.parameterSyntaxError, 5, 5, 4, "Malformed authentication response")
    public static let authMechanismUnknown = make(.parameterNotImplemented504, 5, 5, 4, "Unrecognized authentication type")
    public static let authInTransaction = make(.badSequence, 5, 5, 1, "AUTH not allowed during a mail transaction")
    public static let alreadyAuthenticated = make(.badSequence, 5, 5, 1, "Already authenticated")
    public static let authNeedsTLS = make(.encryptionRequired, 5, 7, 11, "Encryption required for requested authentication mechanism")
    /// MAIL before AUTH under `--require-auth`.
    public static let authRequired = make(.authenticationRequired, 5, 7, 0, "Authentication required")

    /// What a rule answers STARTTLS to refuse it for now (RFC 3207 §4).
    public static let tlsNotAvailable = make(.tlsNotAvailable, 4, 7, 0, "TLS not available due to temporary reason")
    /// `252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery`
    public static let cannotVerify = make(.cannotVerify, 2, 5, 2,
                                          "Cannot VRFY user, but will accept message and attempt delivery")
    /// `214 2.0.0 Commands: …`
    public static let help = make(.systemHelp, 2, 0, 0,
                                  "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP")

    /// `500 5.5.2 Command not recognized`
    public static let commandUnrecognized = make(.syntaxError, 5, 5, 2, "Command not recognized")
    /// `500 5.5.2 Invalid characters in command` — NUL, control or non-UTF-8 bytes.
    public static let invalidCharacters = make(.syntaxError, 5, 5, 2, "Invalid characters in command")
    /// `500 5.5.6 Line too long`
    public static let lineTooLong = make(.syntaxError, 5, 5, 6, "Line too long")
    /// `502 5.5.1 Command not implemented` — a known verb sinkhole does not offer (STARTTLS, AUTH, BDAT…).
    public static let commandNotImplemented = make(.notImplemented, 5, 5, 1, "Command not implemented")
    /// `501 5.5.4 <what is wrong>`
    public static func syntax(_ text: String) -> SMTPReply { make(.parameterSyntaxError, 5, 5, 4, text) }
    /// `555 5.5.4 Unsupported parameter <name>`
    public static func unsupportedParameter(_ name: String) -> SMTPReply {
        make(.parameterNotImplemented, 5, 5, 4, "Unsupported parameter \(name)")
    }
    /// `503 5.5.1 <what is out of order>`
    public static func badSequence(_ text: String) -> SMTPReply { make(.badSequence, 5, 5, 1, text) }
    public static let sendHeloFirst = badSequence("Send HELO/EHLO first")
    public static let nestedMail = badSequence("Nested MAIL command")
    public static let needMail = badSequence("Need MAIL command")
    public static let needRecipient = badSequence("Need RCPT command")
    /// `554 5.5.1 No valid recipients`
    public static let noValidRecipients = make(.transactionFailed, 5, 5, 1, "No valid recipients")
    /// `452 4.5.3 Too many recipients`
    public static let tooManyRecipients = make(.insufficientStorage, 4, 5, 3, "Too many recipients")
    /// `452 4.3.1 Insufficient system storage`: the message does not fit the capture budget.
    public static let insufficientStorage = make(.insufficientStorage, 4, 3, 1, "Insufficient system storage")
    /// `451 4.3.0 Queue file write error`: the message could not be written to disk (Postfix's words).
    public static let queueFileWriteError = make(.localError, 4, 3, 0, "Queue file write error")
    /// `552 5.3.4 Message size exceeds fixed limit`
    public static let messageTooBig = make(.exceededStorage, 5, 3, 4, "Message size exceeds fixed limit")

    /// `421 4.7.0 Too many connections`
    public static let tooManyConnections = make(.serviceNotAvailable, 4, 7, 0, "Too many connections")
    /// `421 4.7.0 Too many errors`: the session made more command errors than allowed.
    public static let tooManyErrors = make(.serviceNotAvailable, 4, 7, 0, "Too many errors")
    /// `554 5.7.0 HTTP request on an SMTP port`: a web client (or a proxy probe) is closed at once.
    public static let httpRequest = make(.transactionFailed, 5, 7, 0, "HTTP request on an SMTP port")
    /// `421 4.4.2 Idle timeout`
    public static let idleTimeout = make(.serviceNotAvailable, 4, 4, 2, "Idle timeout")
    /// `421 4.4.2 Session time limit exceeded`: the whole connection took too long.
    public static let sessionTimeLimit = make(.serviceNotAvailable, 4, 4, 2, "Session time limit exceeded")
    /// `421 4.4.2 DATA time limit exceeded`: one message's content took too long.
    public static let dataTimeLimit = make(.serviceNotAvailable, 4, 4, 2, "DATA time limit exceeded")
    /// `421 4.3.2 Shutting down`
    public static let shuttingDown = make(.serviceNotAvailable, 4, 3, 2, "Shutting down")

    /// `421 4.0.0 Server closing connection` — smtp-sink's `-Q`.
    public static let serverClosing = make(.serviceNotAvailable, 4, 0, 0, "Server closing connection")
    /// `550 This violates SMTP` — smtp-sink's `-A`, word for word: the message is cut off part-way.
    public static let dataAborted = SMTPReply(code: .mailboxUnavailable, "This violates SMTP")

    /// `421 4.3.2 Service temporarily unavailable` — the `defer` mode's answer to RCPT.
    public static let deferDefault = make(.serviceNotAvailable, 4, 3, 2, "Service temporarily unavailable")
    /// `550 5.1.1 User unknown` — the `bounce` mode's answer to RCPT.
    public static let bounceDefault = make(.mailboxUnavailable, 5, 1, 1, "User unknown")
    /// `421 4.3.2 Greylisted, try again later` — the `greylist` mode's answer to an unseen client.
    public static let greylistDefault = make(.serviceNotAvailable, 4, 3, 2, "Greylisted, try again later")
}

// MARK: - Syntax errors the parser answers with

extension SMTPReply {
    public static let heloSyntax = syntax("Syntax: HELO hostname")
    public static let ehloSyntax = syntax("Syntax: EHLO hostname")
    public static let lhloSyntax = syntax("Syntax: LHLO hostname")
    public static let mailSyntax = syntax("Syntax: MAIL FROM:<address>")
    public static let rcptSyntax = syntax("Syntax: RCPT TO:<address>")
    public static let vrfySyntax = syntax("Syntax: VRFY address")
    public static let authSyntax = syntax("Syntax: AUTH mechanism [initial-response]")
    public static let bdatSyntax = syntax("Syntax: BDAT chunk-size [LAST]")
    public static func proxySyntax(_ verb: String) -> SMTPReply { syntax("Syntax: \(verb) attribute=value ...") }
    public static func proxyAttributeName(_ verb: String, _ name: String) -> SMTPReply { syntax("Bad \(verb) attribute name \(name)") }
    public static func proxyAttributeValue(_ verb: String, _ name: String) -> SMTPReply { syntax("Bad \(verb) \(name) value") }
    public static func noParameters(_ verb: String) -> SMTPReply { syntax("Syntax: \(verb) takes no parameters") }
    public static func badParameterValue(_ name: String) -> SMTPReply { syntax("Bad value for parameter \(name)") }
    public static func duplicateParameter(_ name: String) -> SMTPReply { syntax("Duplicate parameter \(name)") }
    /// `501 5.1.7 Bad sender address syntax`
    public static let badSenderAddress = make(.parameterSyntaxError, 5, 1, 7, "Bad sender address syntax")
    /// `501 5.1.3 Bad recipient address syntax`
    public static let badRecipientAddress = make(.parameterSyntaxError, 5, 1, 3, "Bad recipient address syntax")
}
