import SMTPProtocol

/// The replies the modes give, each of which an operator may replace.
public struct ModeReplies: Hashable, Sendable {
    /// `defer` mode's answer to RCPT TO. Must be a 4xx.
    public var deferReply: SMTPReply
    /// `bounce` mode's answer to RCPT TO. Must be a 5xx.
    public var bounceReply: SMTPReply
    /// `accept`/`accept-log` answer to RCPT TO. Must be a 2xx.
    public var acceptReply: SMTPReply
    /// `greylist` mode's answer to a client not seen within the window. Must be a 4xx.
    public var greylistReply: SMTPReply

    public init(
        deferReply: SMTPReply = .deferDefault,
        bounceReply: SMTPReply = .bounceDefault,
        acceptReply: SMTPReply = .recipientOK,
        greylistReply: SMTPReply = .greylistDefault
    ) {
        self.deferReply = deferReply
        self.bounceReply = bounceReply
        self.acceptReply = acceptReply
        self.greylistReply = greylistReply
    }

    /// Why a reply does not fit its mode, or nil when all fit.
    public func validationError() -> String? {
        if !deferReply.code.isTransient { return "the defer reply must be a 4xx, not \(deferReply.code)" }
        if !bounceReply.code.isPermanent { return "the bounce reply must be a 5xx, not \(bounceReply.code)" }
        if !acceptReply.code.isPositive { return "the accept reply must be a 2xx, not \(acceptReply.code)" }
        if !greylistReply.code.isTransient { return "the greylist reply must be a 4xx, not \(greylistReply.code)" }
        return nil
    }
}
