import SMTPProtocol

/// Everything the policy needs that outlives one session.
public struct PolicyConfiguration: Sendable {
    public var replies: ModeReplies
    public var greylist: GreylistTable
    /// The clock greylist entries are stamped with; tests pass a manual one.
    public var now: @Sendable () -> ContinuousClock.Instant

    public init(
        replies: ModeReplies = ModeReplies(),
        greylist: GreylistTable = GreylistTable(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.replies = replies
        self.greylist = greylist
        self.now = now
    }
}

/// The decider for one session: the mode the session started with, applied
/// at RCPT TO.
///
/// A greylisted session stays greylisted for all its recipients, even when
/// the operator's greylist reply is a `451` that keeps the connection open.
public struct SessionPolicy: SMTPDecider, Sendable {
    public let mode: Mode
    private let configuration: PolicyConfiguration
    private var greylisted: Bool?

    public init(mode: Mode, configuration: PolicyConfiguration) {
        self.mode = mode
        self.configuration = configuration
    }

    /// Which layer decided the last refusal, for the connection log.
    public private(set) var lastDecision: String?

    public mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        guard case .rcpt = event else { return .proceed }
        switch mode {
        case .defer:
            lastDecision = "mode"
            return .reply(configuration.replies.deferReply)
        case .bounce:
            lastDecision = "mode"
            return .reply(configuration.replies.bounceReply)
        case .accept, .acceptLog:
            return acceptReply
        case .greylist:
            if greylisted == nil {
                let ip = session.clientIP ?? "unknown"
                greylisted = !configuration.greylist.admit(ip, now: configuration.now())
            }
            if greylisted == true {
                lastDecision = "greylist"
                return .reply(configuration.replies.greylistReply)
            }
            return acceptReply
        }
    }

    private var acceptReply: SMTPDecision {
        configuration.replies.acceptReply == .recipientOK ? .proceed : .reply(configuration.replies.acceptReply)
    }
}
