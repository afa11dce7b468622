/// Whose words a listener speaks in its normal replies.
///
/// Faults come from the policy whatever the personality; the personality
/// changes only the replies sinkhole makes itself: the greeting, `250 OK`,
/// the sequence and syntax errors.
public enum SMTPPersonality: String, Hashable, Sendable, CaseIterable {
    /// sinkhole's own replies, with enhanced status codes (`250 2.1.0 OK`).
    case sinkhole
    /// BadSMTP v0.1.7's, word for word (`250 OK`, `221 Bye`,
    /// `503 Bad sequence - MAIL not allowed in HELO state`), so a suite
    /// written against BadSMTP passes against sinkhole unchanged.
    case badsmtp

    public init?(parsing text: some StringProtocol) {
        self.init(rawValue: String(text.trimmingSMTPWhitespace()).lowercased())
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Where a command came too early or too late.
public enum SequenceError: Hashable, Sendable {
    /// MAIL, RCPT or DATA before HELO/EHLO.
    case beforeHelo
    /// MAIL inside a transaction.
    case nestedMail
    /// RCPT or DATA with no transaction open.
    case beforeMail
    /// DATA with no recipient given.
    case beforeRecipient
    /// DATA after every recipient was refused.
    case noValidRecipients
    /// A command while message content is being read.
    case duringContent
}

/// The replies one listener makes itself, in its personality's words.
///
/// Built once per listener and shared by its sessions; the state machine
/// and the shell take every reply of their own from here, so a
/// personality is one table, not a branch at every reply.
public final class SMTPReplyBook: Sendable {
    public let personality: SMTPPersonality
    public let hostname: String
    public let greeting: SMTPReply
    public let helo: SMTPReply
    /// The first line of the EHLO reply.
    private let ehloName: String
    public let senderOK: SMTPReply
    public let recipientOK: SMTPReply
    /// RSET, NOOP.
    public let ok: SMTPReply
    public let startMailInput: SMTPReply
    public let bye: SMTPReply
    public let help: SMTPReply
    /// A line longer than the limit.
    public let lineTooLong: SMTPReply
    /// Sent to every open session when sinkhole stops.
    public let shuttingDown: SMTPReply
    /// The accepted message's reply when it does not name the queue id.
    private let accepted: SMTPReply?
    /// STARTTLS accepted: `220`, then the handshake.
    public let readyToStartTLS: SMTPReply
    /// STARTTLS once the connection is encrypted.
    public let tlsAlreadyActive: SMTPReply
    /// STARTTLS inside a mail transaction.
    public let startTLSInTransaction: SMTPReply
    /// AUTH's outcome, and a mechanism it does not offer.
    public let authSucceeded: SMTPReply
    public let authFailed: SMTPReply
    public let authMechanismUnknown: SMTPReply

    /// `esmtp: false`: the greeting does not say ESMTP (smtp-sink's `-e`);
    /// `greeting`: the greeting's text, whatever the personality (`--greeting`).
    public init(personality: SMTPPersonality, hostname: String, esmtp: Bool = true, greeting custom: String? = nil,
                lmtp: Bool = false) {
        self.personality = personality
        self.hostname = hostname
        let standard: SMTPReply
        switch personality {
        case .sinkhole:
            standard = lmtp ? SMTPReply(code: .serviceReady, "\(hostname) LMTP sinkhole")
                : esmtp ? .greeting(hostname: hostname) : SMTPReply(code: .serviceReady, "\(hostname) sinkhole")
            helo = .helo(hostname: hostname)
            ehloName = hostname
            senderOK = .senderOK
            recipientOK = .recipientOK
            ok = .ok
            startMailInput = .startMailInput
            bye = .bye
            help = .help
            lineTooLong = .lineTooLong
            shuttingDown = .shuttingDown
            accepted = nil
            readyToStartTLS = .readyToStartTLS
            tlsAlreadyActive = .tlsAlreadyActive
            startTLSInTransaction = .startTLSInTransaction
            authSucceeded = .authSucceeded
            authFailed = .authFailed
            authMechanismUnknown = .authMechanismUnknown
        case .badsmtp:
            standard = SMTPReply(code: .serviceReady,
                                 "\(hostname) \(esmtp ? "ESMTP " : "")BadSMTP - The Reliably Unreliable Mail Server https://badsmtp.com")
            helo = SMTPReply(code: .ok, Self.badsmtpName)
            ehloName = Self.badsmtpName
            senderOK = Self.plainOK
            recipientOK = Self.plainOK
            ok = Self.plainOK
            startMailInput = .startMailInput
            bye = SMTPReply(code: .closing, "Bye")
            help = Self.badsmtpUnrecognised
            lineTooLong = SMTPReply(code: .syntaxError, "Command too long")
            shuttingDown = SMTPReply(code: .serviceNotAvailable, "Service shutting down")
            accepted = SMTPReply(code: .ok, "OK Message accepted for delivery")
            readyToStartTLS = SMTPReply(code: .serviceReady, "Ready to start TLS")
            tlsAlreadyActive = SMTPReply(code: .transactionFailed, "TLS already started")
            startTLSInTransaction = Self.notAllowed("STARTTLS", in: "RCPT")
            authSucceeded = SMTPReply(code: .authSucceeded, "Authentication successful")
            authFailed = SMTPReply(code: .authFailed, "Authentication failed")
            authMechanismUnknown = SMTPReply(code: .parameterNotImplemented504, "Authentication mechanism not supported")
        }
        greeting = custom.map { SMTPReply(code: .serviceReady, $0) } ?? standard
    }

    /// The EHLO reply for what the session offers.
    public func ehlo(_ capabilities: SessionCapabilities) -> SMTPReply {
        switch personality {
        case .sinkhole:
            return .ehlo(hostname: ehloName, extensions: capabilities.keywords)
        case .badsmtp:
            // BadSMTP's order, and its closing `250 OK` line.
            var lines = [ehloName]
            if !capabilities.authMechanisms.isEmpty { lines.append("AUTH " + capabilities.authMechanisms.map(\.rawValue).joined(separator: " ")) }
            if capabilities.eightBitMIME { lines.append("8BITMIME") }
            if let size = capabilities.advertisedSize { lines.append("SIZE \(size)") }
            if capabilities.pipelining { lines.append("PIPELINING") }
            if capabilities.startTLS { lines.append("STARTTLS") }
            if capabilities.chunking { lines.append("CHUNKING") }
            if capabilities.smtpUTF8 { lines.append("SMTPUTF8") }
            if capabilities.enhancedStatusCodes { lines.append("ENHANCEDSTATUSCODES") }
            lines += capabilities.extra
            lines.append("OK")
            return SMTPReply(code: .ok, lines: lines)
        }
    }

    /// A message taken in.
    public func queued(id: String) -> SMTPReply { accepted ?? .queued(id: id) }

    /// One LMTP recipient's message, taken in (RFC 2033 §4.2).
    public func delivered(to recipient: ForwardPath, id: String) -> SMTPReply {
        accepted ?? .delivered(to: recipient, id: id)
    }

    /// A BDAT chunk other than the last, taken in (RFC 3030 §2).
    public func chunkReceived(octets: Int) -> SMTPReply {
        switch personality {
        case .sinkhole: .chunkReceived(octets: octets)
        case .badsmtp: Self.plainOK
        }
    }

    /// Whether a UTF-8 address needs `SMTPUTF8` on MAIL (RFC 6531 §3.4). BadSMTP takes one without.
    public var requiresDeclaredSMTPUTF8: Bool { personality == .sinkhole }

    /// Whether BDAT is taken where CHUNKING is not offered: BadSMTP's `nochunking` only hides it.
    public var takesUnofferedBDAT: Bool { personality == .badsmtp }

    /// A message (or a declared SIZE) over `limit` octets.
    public func messageTooBig(limit: Int) -> SMTPReply {
        switch personality {
        case .sinkhole: .messageTooBig
        case .badsmtp: SMTPReply(code: .exceededStorage, "Message size exceeds fixed maximum of \(limit) bytes")
        }
    }

    /// VRFY of an address the policy has nothing to say about.
    public func vrfy(_ argument: String) -> SMTPReply {
        switch personality {
        case .sinkhole: .cannotVerify
        case .badsmtp:
            argument.contains("@")
                ? SMTPReply(code: .mailboxUnavailable, "Requested action not taken: mailbox unavailable")
                : Self.badsmtpSyntax
        }
    }

    /// A verb sinkhole knows but does not offer.
    public func notImplemented(verb: String) -> SMTPReply {
        switch personality {
        case .sinkhole: .commandNotImplemented
        case .badsmtp:
            // BadSMTP knows STARTTLS, AUTH and BDAT; EXPN, ETRN and TURN are unknown to it.
            ["STARTTLS", "AUTH", "BDAT"].contains(verb)
                ? SMTPReply(code: .notImplemented, "Command not implemented") : Self.badsmtpUnrecognised
        }
    }

    /// `verb` out of order.
    public func sequence(_ error: SequenceError, verb: String) -> SMTPReply {
        switch personality {
        case .sinkhole:
            switch error {
            case .beforeHelo: .sendHeloFirst
            case .nestedMail: .nestedMail
            case .beforeMail: .needMail
            case .beforeRecipient: .needRecipient
            case .noValidRecipients: .noValidRecipients
            case .duringContent: .badSequence("Command during message content")
            }
        case .badsmtp:
            // BadSMTP's state names: HELO before the greeting is answered,
            // MAIL when ready, RCPT inside a transaction.
            switch error {
            case .beforeHelo: Self.notAllowed(verb, in: "HELO")
            case .nestedMail: Self.notAllowed(verb, in: "RCPT")
            case .beforeMail: Self.notAllowed(verb, in: "MAIL")
            case .beforeRecipient: SMTPReply(code: .badSequence, "Bad sequence of commands")
            case .noValidRecipients: SMTPReply(code: .transactionFailed, "Transaction failed")
            case .duringContent: Self.notAllowed(verb, in: "DATA")
            }
        }
    }

    /// A reply sinkhole makes without the book's help (a parse error, a
    /// limit, a timeout) in this personality's words: BadSMTP's never carry
    /// an enhanced code.
    public func adapt(_ reply: SMTPReply) -> SMTPReply {
        switch personality {
        case .sinkhole:
            return reply
        case .badsmtp:
            switch reply.code {
            case .syntaxError where reply == .lineTooLong: return lineTooLong
            case .syntaxError: return Self.badsmtpUnrecognised
            case .parameterSyntaxError: return Self.badsmtpSyntax
            default:
                var plain = reply
                plain.enhanced = nil
                return plain
            }
        }
    }

    // BadSMTP's fixed texts.
    private static let badsmtpName = "badsmtp.test"
    private static let plainOK = SMTPReply(code: .ok, "OK")
    /// British spelling, as BadSMTP writes it (its triggered 500 says "unrecognized").
    private static let badsmtpUnrecognised = SMTPReply(code: .syntaxError, "Command not recognised")
    private static let badsmtpSyntax = SMTPReply(code: .parameterSyntaxError, "Syntax error in parameters")
    private static func notAllowed(_ verb: String, in state: String) -> SMTPReply {
        SMTPReply(code: .badSequence, "Bad sequence - \(verb) not allowed in \(state) state")
    }
}
