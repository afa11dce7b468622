import struct NIOCore.ByteBuffer

extension ByteBuffer {
    /// Writes `reply` as it goes on the wire: `250-…` for every line but the
    /// last, `250 …` for the last, each ending in CRLF.
    @discardableResult
    public mutating func writeSMTPReply(_ reply: SMTPReply) -> Int {
        writeString(reply.description)
    }
}

extension SMTPReply {
    /// The reply encoded once, for replies sent over and over.
    public var encoded: ByteBuffer { ByteBuffer(string: description) }
}
