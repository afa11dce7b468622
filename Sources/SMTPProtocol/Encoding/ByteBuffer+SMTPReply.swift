import struct NIOCore.ByteBuffer

extension ByteBuffer {
    /// Writes `reply` as it goes on the wire: `250-…` for every line but the
    /// last, `250 …` for the last, each ending in CRLF. The same bytes as
    /// `reply.description`.
    ///
    /// This runs for every reply: each line is one capacity check and one
    /// copy of its text, the codes written as digits in place (writing them
    /// byte by byte through `writeInteger` cost more than the rest of the reply).
    @discardableResult
    public mutating func writeSMTPReply(_ reply: SMTPReply) -> Int {
        var written = 0
        let last = reply.lines.count - 1
        let code = reply.code.value
        let enhanced = reply.enhanced
        // "250 " and, with an enhanced code, "2.1.0 ": at most 4 + 12 bytes.
        let prefixLength = 4 + (enhanced.map { 3 + ASCIIDecimal.digits($0.statusClass) + ASCIIDecimal.digits($0.subject) + ASCIIDecimal.digits($0.detail) } ?? 0)
        for index in reply.lines.indices {
            var line = reply.lines[index]
            let separator = index == last ? UInt8(ascii: " ") : UInt8(ascii: "-")
            written += line.withUTF8 { text in
                writeWithUnsafeMutableBytes(minimumWritableBytes: prefixLength + text.count + 2) { out in
                    var at = ASCIIDecimal.put(code, into: out, at: 0)
                    out[at] = separator
                    at += 1
                    if let enhanced {
                        at = ASCIIDecimal.put(enhanced.statusClass, into: out, at: at)
                        out[at] = UInt8(ascii: ".")
                        at = ASCIIDecimal.put(enhanced.subject, into: out, at: at + 1)
                        out[at] = UInt8(ascii: ".")
                        at = ASCIIDecimal.put(enhanced.detail, into: out, at: at + 1)
                        out[at] = UInt8(ascii: " ")
                        at += 1
                    }
                    if let base = text.baseAddress {
                        (out.baseAddress! + at).copyMemory(from: base, byteCount: text.count)
                    }
                    at += text.count
                    out[at] = UInt8(ascii: "\r")
                    out[at + 1] = UInt8(ascii: "\n")
                    return at + 2
                }
            }
        }
        return written
    }
}

/// Small numbers written as decimal ASCII in place: reply and enhanced codes, an
/// IPv4 address's bytes (SinkholeServer's `SocketAddress.ipText`).
package enum ASCIIDecimal {
    /// How many digits `value` (0...999) has.
    package static func digits(_ value: Int) -> Int {
        precondition((0...999).contains(value))
        return value >= 100 ? 3 : value >= 10 ? 2 : 1
    }

    /// `value` (0...999) at `at`; where the next byte goes.
    package static func put(_ value: Int, into out: UnsafeMutableRawBufferPointer, at: Int) -> Int {
        precondition((0...999).contains(value))
        var at = at
        if value >= 100 {
            out[at] = UInt8(truncatingIfNeeded: 48 + value / 100)
            at += 1
        }
        if value >= 10 {
            out[at] = UInt8(truncatingIfNeeded: 48 + value / 10 % 10)
            at += 1
        }
        out[at] = UInt8(truncatingIfNeeded: 48 + value % 10)
        return at + 1
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
