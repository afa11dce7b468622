/// A command line that could not be parsed, with the reply that says why.
public struct SMTPParseError: Error, Hashable, Sendable {
    /// The reply to send: a 500, 501, 502 or 555.
    public var reply: SMTPReply

    public init(_ reply: SMTPReply) { self.reply = reply }
}
