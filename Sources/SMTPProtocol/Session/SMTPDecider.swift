/// A point in a session where the policy may choose the reply.
public enum SMTPEvent: Hashable, Sendable {
    /// A client connected; the decision replaces the greeting.
    case connect
    /// `RCPT TO:` passed syntax and sequence checks.
    case rcpt(ForwardPath)
    /// `DATA` with at least one accepted recipient.
    case data
    /// The terminating `CRLF.CRLF` of a message within the size limit.
    case endOfData(size: Int)
}

/// What the policy decided for an ``SMTPEvent``.
public enum SMTPDecision: Hashable, Sendable {
    /// The protocol's normal reply (`250`, `354`, `220`…).
    case proceed
    /// This reply instead. A `421` also closes the connection.
    case reply(SMTPReply)
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
    public var acceptedRecipients: Int

    public init(clientIP: String?, heloName: String? = nil, reversePath: ReversePath? = nil, acceptedRecipients: Int = 0) {
        self.clientIP = clientIP
        self.heloName = heloName
        self.reversePath = reversePath
        self.acceptedRecipients = acceptedRecipients
    }
}

/// Chooses replies at the points of a session listed in ``SMTPEvent``. The
/// session state machine calls it as a plain function: no I/O, no waiting.
public protocol SMTPDecider {
    mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision
}

/// A decider that always proceeds: every recipient and message accepted.
public struct AcceptAllDecider: SMTPDecider, Sendable {
    public init() {}
    public func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision { .proceed }
}
