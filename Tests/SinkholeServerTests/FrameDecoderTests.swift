import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
@testable import SinkholeServer

@Suite("Frame decoder")
struct FrameDecoderTests {
    @Test("Command lines: every split of the input gives the same lines")
    func lines() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("EHLO a\r\n", [.line(ByteBuffer(string: "EHLO a"))]),
                ("NOOP\n", [.line(ByteBuffer(string: "NOOP"))]),
                ("\r\n", [.line(ByteBuffer())]),
                ("MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n", [
                    .line(ByteBuffer(string: "MAIL FROM:<>")),
                    .line(ByteBuffer(string: "RCPT TO:<a@b>")),
                    .line(ByteBuffer(string: "DATA")),
                ]),
                ("a\rb\r\n", [.line(ByteBuffer(string: "a\rb"))]),
                (String(repeating: "x", count: 16) + "\r\n", [.line(ByteBuffer(string: String(repeating: "x", count: 16)))]),
                (String(repeating: "x", count: 17) + "\r\nNOOP\r\n", [.lineTooLong, .line(ByteBuffer(string: "NOOP"))]),
                (String(repeating: "y", count: 100) + "\r\nQUIT\r\n", [.lineTooLong, .line(ByteBuffer(string: "QUIT"))]),
            ],
            decoderFactory: { SMTPFrameDecoder(lineLengthLimit: 16) }
        )
    }

    /// Feeds `input` in content mode in the given chunk sizes and returns the
    /// parts, with adjacent content coalesced.
    func decodeContent(_ input: [UInt8], chunk: (Int) -> Int) throws -> [SMTPInboundPart] {
        var decoder = SMTPFrameDecoder(lineLengthLimit: 64)
        decoder.beginContent()
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
        var offset = 0
        var step = 0
        while offset < input.count {
            let size = min(max(1, chunk(step)), input.count - offset)
            try channel.writeInbound(ByteBuffer(bytes: input[offset..<offset + size]))
            offset += size
            step += 1
        }
        var parts: [SMTPInboundPart] = []
        while let part = try channel.readInbound(as: SMTPInboundPart.self) {
            if case .content(var more) = part, case .content(var last)? = parts.last {
                last.writeBuffer(&more)
                parts[parts.count - 1] = .content(last)
            } else {
                parts.append(part)
            }
        }
        _ = try? channel.finish()
        return parts
    }

    static let contentCases: [(String, [SMTPInboundPart])] = [
        ("Subject: x\r\n\r\nhello\r\n.\r\n", [.content(ByteBuffer(string: "Subject: x\r\n\r\nhello\r\n")), .endOfContent]),
        (".\r\n", [.endOfContent]),
        ("..leading dot\r\n.\r\n", [.content(ByteBuffer(string: ".leading dot\r\n")), .endOfContent]),
        ("a\r\n.b\r\n.\r\n", [.content(ByteBuffer(string: "a\r\nb\r\n")), .endOfContent]),
        // SMTP smuggling: only CR LF . CR LF ends the content.
        ("a\n.\nb\r\n.\r\n", [.content(ByteBuffer(string: "a\n.\nb\r\n")), .endOfContent]),
        ("a\r\n.\nb\r\n.\r\n", [.content(ByteBuffer(string: "a\r\n\nb\r\n")), .endOfContent]),
        ("a\n.\r\nb\r\n.\r\n", [.content(ByteBuffer(string: "a\n.\r\nb\r\n")), .endOfContent]),
        ("a\r\n.\rb\r\n.\r\n", [.content(ByteBuffer(string: "a\r\n\rb\r\n")), .endOfContent]),
        ("a\r\n.\r\r\n.\r\n", [.content(ByteBuffer(string: "a\r\n\r\r\n")), .endOfContent]),
        ("a\r\n. \r\n.\r\n", [.content(ByteBuffer(string: "a\r\n \r\n")), .endOfContent]),
        ("x\r\r\n.\r\n", [.content(ByteBuffer(string: "x\r\r\n")), .endOfContent]),
        ("body\r\n.\r\nQUIT\r\n", [.content(ByteBuffer(string: "body\r\n")), .endOfContent, .line(ByteBuffer(string: "QUIT"))]),
    ]

    @Test("Content: terminator, dot-unstuffing, no smuggling — whole, byte by byte, and in odd chunks",
          arguments: contentCases)
    func content(input: String, expected: [SMTPInboundPart]) throws {
        let bytes = Array(input.utf8)
        #expect(try decodeContent(bytes, chunk: { _ in bytes.count }) == expected)
        #expect(try decodeContent(bytes, chunk: { _ in 1 }) == expected)
        #expect(try decodeContent(bytes, chunk: { [2, 3, 1, 5][$0 % 4] }) == expected)
    }

    /// Fed a byte at a time, the decoder never sees a line end and the next line's first byte
    /// in one read, so it walks every state; fed whole, it takes the line-end shortcut. Both
    /// must give the same parts, on inputs dense in CR, LF and dots.
    @Test("Content: the line-end shortcut and the byte-by-byte states agree (1,000 seeded inputs)")
    func contentShortcutAgrees() throws {
        var seed: UInt64 = 0x5EED
        func next() -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33)
        }
        let alphabet: [UInt8] = Array("ab.\r\n\r\n.".utf8)
        for _ in 0..<1000 {
            var input = (0..<(next() % 40)).map { _ in alphabet[next() % alphabet.count] }
            input += Array("\r\n.\r\n".utf8)
            let whole = try decodeContent(input, chunk: { _ in input.count })
            let bytewise = try decodeContent(input, chunk: { _ in 1 })
            #expect(whole == bytewise, "\(String(decoding: input, as: UTF8.self).debugDescription)")
        }
    }

    @Test("A megabyte without a newline is dropped as it comes, reported once")
    func hugeLine() throws {
        let decoder = SMTPFrameDecoder(lineLengthLimit: 2048)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
        let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        for _ in 0..<16 { try channel.writeInbound(chunk) }
        try channel.writeInbound(ByteBuffer(string: "\r\nNOOP\r\n"))
        #expect(try channel.readInbound(as: SMTPInboundPart.self) == .lineTooLong)
        #expect(try channel.readInbound(as: SMTPInboundPart.self) == .line(ByteBuffer(string: "NOOP")))
        #expect(try channel.readInbound(as: SMTPInboundPart.self) == nil)
        _ = try? channel.finish()
    }
}
