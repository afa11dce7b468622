import NIOCore
import Testing

@testable import SinkholeServer

@Suite("PROXY headers, BDAT chunks, dump files")
struct WireExtrasTests {
    private func parse(_ bytes: [UInt8]) -> ProxyHeader {
        ProxyHeader.parse(ByteBuffer(bytes: bytes).readableBytesView)
    }

    @Test("PROXY v1: a whole line names the client; a part of one waits; anything else is refused")
    func proxyV1() throws {
        let line = Array("PROXY TCP4 192.0.2.1 198.51.100.2 40000 25\r\nEHLO".utf8)
        #expect(parse(line) == .header(length: line.count - 4, client: try SocketAddress(ipAddress: "192.0.2.1", port: 40000)))
        #expect(parse(Array("PROX".utf8)) == .incomplete)
        #expect(parse(Array("PROXY TCP4 192.0.2.1".utf8)) == .incomplete)
        #expect(parse(Array("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n".utf8)) == .header(length: 35, client: nil))
        #expect(parse(Array("EHLO x\r\n".utf8)) == .invalid("no PROXY protocol header"))
        #expect(parse(Array("PROXY TCP6 ::1 ::2 1 65536\r\n".utf8)) == .invalid("PROXY v1 line with a bad address or port"))
    }

    @Test("PROXY v2: TCP over IPv4 and IPv6, LOCAL, and headers too long or of another version")
    func proxyV2() throws {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        let v4 = signature + [0x21, 0x11, 0, 12] + [192, 0, 2, 7, 10, 0, 0, 1] + [0x9C, 0x40, 0, 25]
        #expect(parse(v4) == .header(length: 28, client: try SocketAddress(ipAddress: "192.0.2.7", port: 40000)))
        #expect(parse(Array(v4.prefix(20))) == .incomplete)
        #expect(parse(Array(v4.prefix(5))) == .incomplete)
        var v6 = signature + [0x21, 0x21, 0, 36]
        v6 += [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [7] + [UInt8](repeating: 0, count: 16) + [0, 80, 0, 25]
        #expect(parse(v6) == .header(length: 52, client: try SocketAddress(ipAddress: "2001:db8::7", port: 80)))
        #expect(parse(signature + [0x20, 0x00, 0, 0]) == .header(length: 16, client: nil))
        #expect(parse(signature + [0x11, 0x11, 0, 0]) == .invalid("PROXY v2 header of version 1"))
        #expect(parse(signature + [0x21, 0x11, 0x10, 0x00]) == .invalid("PROXY v2 header of 4112 octets"))
    }

    @Test("A BDAT chunk is exactly its octets, across reads, whatever they hold")
    func chunks() {
        var decoder = SMTPFrameDecoder()
        var input = ByteBuffer(string: "BDAT 9 LAST\r\n.\r\nQUIT\r")
        guard case .line(let line) = decoder.next(from: &input) else { Issue.record("no line"); return }
        #expect(String(buffer: line) == "BDAT 9 LAST")
        decoder.beginChunk(size: 9)
        var content: [String] = []
        while let part = decoder.next(from: &input) {
            guard case .content(let bytes) = part else { Issue.record("\(part)"); return }
            content.append(String(buffer: bytes))
        }
        input.writeString("\nNOOP\r\n")
        guard case .content(let last) = decoder.next(from: &input) else { Issue.record("no rest of chunk"); return }
        content.append(String(buffer: last))
        #expect(content.joined() == ".\r\nQUIT\r\n")
        #expect(decoder.next(from: &input) == .endOfChunk)
        guard case .line(let noop) = decoder.next(from: &input) else { Issue.record("no NOOP"); return }
        #expect(String(buffer: noop) == "NOOP")
        var empty = ByteBuffer()
        decoder.beginChunk(size: 0)
        #expect(decoder.next(from: &empty) == .endOfChunk)
    }

    @Test("CR LF becomes LF across chunk boundaries; smtp-sink's -S escapes")
    func dumpText() {
        var endings = LineEndings()
        let out = endings.convert(Array("a\r".utf8)) + endings.convert(Array("\nb\r".utf8)) + endings.convert(Array("c\r".utf8))
            + endings.finish()
        #expect(String(decoding: out, as: UTF8.self) == "a\nb\rc\r")
        #expect(DiskCapture.unescape(#"x\n\t\\\101\7\0q\z"#) == Array("x\n\t\\A".utf8) + [7, 0] + Array("q\\z".utf8))
    }
}
