import struct NIOCore.ByteBuffer

extension ByteBuffer {
    /// Writes `reply` as it goes on the wire: `250-…` for every line but the
    /// last, `250 …` for the last, each ending in CRLF. The same bytes as
    /// `reply.description`, written without building a String (this runs
    /// for every reply).
    @discardableResult
    public mutating func writeSMTPReply(_ reply: SMTPReply) -> Int {
        var written = 0
        let last = reply.lines.count - 1
        for (index, line) in reply.lines.enumerated() {
            written += writeSmallDecimal(reply.code.value)
            written += writeInteger(index == last ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            if let enhanced = reply.enhanced {
                written += writeSmallDecimal(enhanced.statusClass)
                written += writeInteger(UInt8(ascii: "."))
                written += writeSmallDecimal(enhanced.subject)
                written += writeInteger(UInt8(ascii: "."))
                written += writeSmallDecimal(enhanced.detail)
                written += writeInteger(UInt8(ascii: " "))
            }
            written += writeString(line)
            written += writeStaticString("\r\n")
        }
        return written
    }

    /// `value` (0...999, as reply and enhanced codes are) in decimal ASCII.
    private mutating func writeSmallDecimal(_ value: Int) -> Int {
        precondition((0...999).contains(value))
        if value >= 100 {
            return writeInteger(UInt8(48 + value / 100)) + writeInteger(UInt8(48 + value / 10 % 10))
                + writeInteger(UInt8(48 + value % 10))
        }
        if value >= 10 { return writeInteger(UInt8(48 + value / 10)) + writeInteger(UInt8(48 + value % 10)) }
        return writeInteger(UInt8(48 + value))
    }
}

extension SMTPReply {
    /// The reply encoded once, for replies sent over and over.
    public var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeSMTPReply(self)
        return buffer
    }
}
