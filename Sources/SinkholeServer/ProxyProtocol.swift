import Logging
import NIOCore

/// The PROXY protocol header a load balancer (an AWS NLB, HAProxy) sends
/// before the client's first byte, naming the client it hides.
///
/// Version 1 is a text line, `PROXY TCP4 192.0.2.1 198.51.100.1 40000 25\r\n`
/// (at most 107 octets); version 2 is binary, after a 12-octet signature.
/// `PROXY UNKNOWN` (v1) and the `LOCAL` command (v2: the proxy's own
/// health check) carry no client: the connection's own peer stands.
///
/// - SeeAlso: [The PROXY protocol, versions 1 and 2](https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt)
enum ProxyHeader: Equatable {
    /// A whole header, `length` octets, naming the client (nil: the peer stands).
    case header(length: Int, client: SocketAddress?)
    /// What has arrived is the start of a header: read more.
    case incomplete
    /// Not a header, or a broken one: the connection is refused.
    case invalid(String)

    /// v2's signature: `\r\n\r\n\0\r\nQUIT\n`.
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Prefix = Array("PROXY ".utf8)
    /// v1's longest line (the specification's 107, CRLF included).
    static let v1MaxLength = 107
    /// v2's longest header sinkhole takes: addresses and TLVs (an NLB's VPC endpoint id), far below v2's 64 KiB.
    static let v2MaxLength = 16 + 2048

    /// Parses the header at the start of `bytes`.
    static func parse(_ bytes: ByteBufferView) -> ProxyHeader {
        let count = bytes.count
        func starts(with prefix: [UInt8]) -> Bool {
            bytes.prefix(prefix.count).elementsEqual(prefix.prefix(min(count, prefix.count)))
        }
        if starts(with: signature) {
            guard count >= 16 else { return .incomplete }
            return parseV2(bytes)
        }
        if starts(with: v1Prefix) { return parseV1(bytes) }
        return .invalid("no PROXY protocol header")
    }

    // proxy-line = "PROXY" SP ( "TCP4" / "TCP6" ) SP src SP dst SP sport SP dport CRLF / "PROXY UNKNOWN" [...] CRLF
    private static func parseV1(_ bytes: ByteBufferView) -> ProxyHeader {
        guard let newline = bytes.prefix(v1MaxLength).firstIndex(of: 0x0A) else {
            return bytes.count >= v1MaxLength ? .invalid("PROXY v1 line longer than 107 octets") : .incomplete
        }
        let length = newline - bytes.startIndex + 1
        guard newline > bytes.startIndex, bytes[newline - 1] == 0x0D else { return .invalid("PROXY v1 line without CRLF") }
        let line = String(decoding: bytes[bytes.startIndex..<(newline - 1)], as: UTF8.self)
        let words = line.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count >= 2 else { return .invalid("PROXY v1 line without a protocol") }
        if words[1] == "UNKNOWN" { return .header(length: length, client: nil) }
        guard words.count == 6, words[1] == "TCP4" || words[1] == "TCP6" else {
            return .invalid("PROXY v1 line is not PROXY TCP4|TCP6 SRC DST SPORT DPORT")
        }
        guard let sourcePort = port(words[4]), port(words[5]) != nil,
              let client = try? SocketAddress(ipAddress: String(words[2]), port: sourcePort),
              (try? SocketAddress(ipAddress: String(words[3]), port: 0)) != nil
        else { return .invalid("PROXY v1 line with a bad address or port") }
        guard (words[1] == "TCP4") == (client.protocol == .inet) else { return .invalid("PROXY v1 address is not of its family") }
        return .header(length: length, client: client)
    }

    /// A port: 1 to 5 digits, no sign, 0–65535.
    private static func port(_ text: Substring) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int(text), value <= 65535 else { return nil }
        return value
    }

    private static func parseV2(_ bytes: ByteBufferView) -> ProxyHeader {
        let start = bytes.startIndex
        let versionCommand = bytes[start + 12]
        let family = bytes[start + 13]
        let length = Int(bytes[start + 14]) << 8 | Int(bytes[start + 15])
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY v2 header of version \(versionCommand >> 4)") }
        let command = versionCommand & 0x0F
        guard command <= 1 else { return .invalid("PROXY v2 header with command \(command)") }
        guard 16 + length <= v2MaxLength else { return .invalid("PROXY v2 header of \(16 + length) octets") }
        guard bytes.count >= 16 + length else { return .incomplete }
        let total = 16 + length
        // LOCAL: the proxy speaking for itself (a health check); addresses, if any, are ignored.
        if command == 0 { return .header(length: total, client: nil) }
        let body = bytes[(start + 16)..<(start + total)]
        func address(_ offset: Int, _ size: Int, portAt: Int) -> SocketAddress? {
            let packed = ByteBuffer(bytes: body.dropFirst(offset).prefix(size))
            let port = Int(body[body.startIndex + portAt]) << 8 | Int(body[body.startIndex + portAt + 1])
            return try? SocketAddress(packedIPAddress: packed, port: port)
        }
        switch family {
        case 0x11:  // TCP over IPv4: src, dst, sport, dport
            guard length >= 12, let client = address(0, 4, portAt: 8) else { return .invalid("PROXY v2 TCP4 header too short") }
            return .header(length: total, client: client)
        case 0x21:  // TCP over IPv6
            guard length >= 36, let client = address(0, 16, portAt: 32) else { return .invalid("PROXY v2 TCP6 header too short") }
            return .header(length: total, client: client)
        case 0x00, 0x31:  // UNSPEC, or a UNIX stream: nothing to put in the client's place
            return .header(length: total, client: nil)
        default:
            return .invalid("PROXY v2 header for transport 0x\(String(family, radix: 16)), not a TCP stream")
        }
    }
}

/// First in a `proxy-protocol` listener's pipeline: reads the PROXY header,
/// then starts the session (with the client the header names) and passes
/// every later byte through. A connection without a valid header is closed
/// without a word, as the protocol says, and logged.
final class ProxyProtocolHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Adds the session's handlers behind this one, for the client the header named.
    private let startSession: (any Channel, SocketAddress?) throws -> Void
    private let timeout: TimeAmount
    private let logger: Logger
    private var buffered: ByteBuffer?
    private var done = false
    private var timer: Scheduled<Void>?
    /// Where the connection is taken out when it ends: this handler, not the session's,
    /// lives as long as the connection (a header refused means no session).
    private let registry: ConnectionRegistry?

    init(timeout: TimeAmount, logger: Logger, registry: ConnectionRegistry? = nil,
         startSession: @escaping (any Channel, SocketAddress?) throws -> Void) {
        self.timeout = timeout
        self.logger = logger
        self.registry = registry
        self.startSession = startSession
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        registry?.remove(context.channel)
    }

    func channelActive(context: ChannelHandlerContext) {
        // Held back: the session is active once the header has named its client.
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard !done else { return }
            refuse(context: context, "no PROXY protocol header within \(timeout.nanoseconds / 1_000_000) ms")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var input = unwrapInboundIn(data)
        if var kept = buffered {
            kept.writeBuffer(&input)
            input = kept
        }
        buffered = nil
        switch ProxyHeader.parse(input.readableBytesView) {
        case .incomplete:
            buffered = input
        case .invalid(let reason):
            refuse(context: context, reason)
        case .header(let length, let client):
            done = true
            timer?.cancel()
            input.moveReaderIndex(forwardBy: length)
            do {
                try startSession(context.channel, client ?? context.channel.remoteAddress)
            } catch {
                logger.warning("proxy_session_failed", metadata: ["error": "\(error)"])
                return context.close(promise: nil)
            }
            context.fireChannelActive()
            if input.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(input))
                context.fireChannelReadComplete()
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if done { context.fireChannelReadComplete() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if done { context.fireChannelInactive() }
    }

    private func refuse(context: ChannelHandlerContext, _ reason: String) {
        buffered = nil
        timer?.cancel()
        let peer = context.channel.remoteAddress.map(SMTPServer.describe) ?? "unknown"
        logger.notice("proxy_header_refused", metadata: ["client": "\(peer)", "reason": "\(reason)"])
        context.close(promise: nil)
    }
}
