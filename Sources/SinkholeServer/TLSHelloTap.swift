import NIOCore
import SinkholeTLS

/// What the handshake's first records said in the clear, sent up the
/// pipeline once the ServerHello is out.
struct TLSHelloSeen {
    /// The client's SNI name, if it sent one.
    var serverName: String?
    /// The cipher suite the server chose, by IANA's name.
    var cipher: String?
}

/// Sits below the TLS handler and reads, without holding anything back, the
/// client's ClientHello (for SNI) and the server's ServerHello (for the
/// cipher); after that it only passes bytes on (taking itself out of the
/// pipeline in the middle of the TLS handler's flight lost that flight).
final class TLSHelloTap: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Most of a ClientHello kept for reading: one record.
    private static let limit = 16_389
    private var hello: [UInt8] = []
    private var seen = TLSHelloSeen()
    private var inboundDone = false
    private var outboundDone = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !inboundDone {
            let buffer = unwrapInboundIn(data)
            hello.append(contentsOf: buffer.readableBytesView.prefix(Self.limit - hello.count))
            if hello.count >= 5 {
                let recordEnd = 5 + Int(hello[3]) << 8 + Int(hello[4])
                if hello.count >= min(recordEnd, Self.limit) || hello[0] != 0x16 {
                    seen.serverName = TLSHello.serverName(clientHello: hello)
                    inboundDone = true
                    hello = []
                }
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !outboundDone {
            outboundDone = true
            if let suite = TLSHello.cipherSuite(serverHello: unwrapOutboundIn(data).readableBytesView) {
                seen.cipher = TLSHello.name(ofCipherSuite: suite)
            }
        }
        context.write(data, promise: promise)
        if inboundDone && outboundDone && !reported {
            reported = true
            // After this write returns: the TLS handler is in the middle of its flight.
            let seen = seen
            context.eventLoop.assumeIsolated().execute { context.fireUserInboundEventTriggered(seen) }
        }
    }
    private var reported = false
}
