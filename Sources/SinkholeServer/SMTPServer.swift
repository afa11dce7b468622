import Logging
import ModeSources
import NIOCore
import NIOPosix
import NIOSSL
import SMTPProtocol
import ServiceLifecycle
import SinkholeConfig
import SinkholePolicy
import SinkholeTLS
import Synchronization

/// The SMTP listener as a service: binds every `--listen` address, gives each
/// connection the mode current when it was accepted, and on shutdown stops
/// accepting, lets messages in DATA finish within the grace period, and
/// answers everyone else `421 4.3.2 Shutting down`.
public final class SMTPServer: Service, Sendable {
    public let configuration: ServerConfiguration
    private let modes: ModeProvider
    private let policy: PolicyConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let registry: ConnectionRegistry
    private let clocks: SessionClocks
    private let metrics: ServerMetrics?
    private let listeners = Mutex<[any Channel]>([])

    public init(
        configuration: ServerConfiguration,
        modes: ModeProvider,
        policy: PolicyConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        metrics: ServerMetrics? = nil,
        logger: Logger
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.modes = modes
        self.policy = policy
        self.group = group
        self.logger = logger
        self.registry = ConnectionRegistry(limit: configuration.maxConnections)
        self.clocks = SessionClocks(tick: SessionClock.tick(for: [
            configuration.idleTimeout, configuration.sessionTimeLimit, configuration.dataTimeLimit,
        ]))
    }

    /// Open connections now.
    public var connectionCount: Int { registry.count }

    /// Binds every listen address; on any failure closes what was bound and
    /// throws. Returns the bound addresses (port 0 resolved).
    @discardableResult
    public func bind() async throws -> [SocketAddress] {
        var bound: [any Channel] = []
        do {
            for (index, address) in configuration.listen.enumerated() {
                bound.append(try await bootstrap(profile: configuration.profiles[index], address: address)
                    .bind(host: address.host, port: address.port).get())
            }
        } catch {
            for channel in bound { try? await channel.close() }
            throw error
        }
        listeners.withLock { $0 = bound }
        return bound.compactMap(\.localAddress)
    }

    public func run() async throws {
        let channels = listeners.withLock { $0 }
        precondition(!channels.isEmpty, "bind() before run()")
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for channel in channels { try? await channel.closeFuture.get() }
            } onGracefulShutdown: {
                self.stopAccepting()
            }
        } onCancel: {
            self.stopAccepting()
            self.registry.closeAll()
        }
        await drain()
    }

    private func stopAccepting() {
        let channels = listeners.withLock { $0 }
        for channel in channels { channel.close(promise: nil) }
        registry.beginShutdown()
    }

    /// Waits for open connections to finish, up to the grace period, then closes the rest.
    private func drain() async {
        let open = registry.count
        guard open > 0 else { return }
        logger.notice("draining", metadata: [
            "connections": "\(open)", "grace_ms": "\(configuration.shutdownGracePeriod.milliseconds)",
        ])
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.registry.waitUntilDrained(); return true }
            group.addTask {
                do { try await Task.sleep(for: self.configuration.shutdownGracePeriod) } catch { return true }
                return false
            }
            if await group.next() == false {
                logger.warning("grace_period_over", metadata: ["closing": "\(registry.count)"])
                registry.closeAll()
            }
            group.cancelAll()
        }
    }

    private func bootstrap(profile: ListenerProfile?, address: ListenAddress) -> ServerBootstrap {
        let listenerName = profile?.name ?? address.description
        let configuration = configuration
        let registry = registry
        let modes = modes
        // One context per listener, shared by its sessions.
        let context = PolicyContext(configuration: policy, profile: profile)
        var listenerSession = profile?.personality.map(configuration.session.speaking) ?? configuration.session
        let tls = configuration.tls
        let implicitTLS = profile?.implicitTLS == true && tls != nil
        let proxyProtocol = profile?.proxyProtocol == true
        // STARTTLS where a certificate is loaded and this listener does not
        // withhold it; never on an implicit-TLS listener (already encrypted).
        listenerSession.startTLS = tls != nil && !implicitTLS && (profile?.startTLS ?? listenerSession.startTLS)
        listenerSession.authOverTLSOnly = configuration.authOverTLSOnly ?? !address.isLoopback
        let session = listenerSession
        let tlsProfile = profile?.tlsProfile.flatMap { CertificateProfile(parsing: $0) } ?? configuration.tlsProfile
        let logger = logger
        let metrics = metrics
        let clocks = clocks
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let remote = channel.remoteAddress
                    let handlers = channel.pipeline.syncOperations
                    guard registry.admit(channel) else {
                        logger.notice("limit_exceeded", metadata: [
                            "client": "\(remote.map(Self.describe) ?? "unknown")",
                            "limit": "max_connections", "max": "\(configuration.maxConnections)",
                        ])
                        metrics?.connectionsRefused.increment()
                        try handlers.addHandler(RefuseConnectionHandler(reply: session.replies.adapt(.tooManyConnections)))
                        return
                    }
                    let mode = modes.current
                    // The session's handlers; behind a PROXY header, once it named the client.
                    let startSession = { (channel: any Channel, remote: SocketAddress?) throws in
                        let handlers = channel.pipeline.syncOperations
                        if implicitTLS, let tls {
                            try handlers.addHandler(TLSHelloTap())
                            try handlers.addHandler(NIOSSLServerHandler(context: tls.context(tlsProfile)))
                        }
                        try handlers.addHandler(SMTPSessionHandler(
                        lineLengthLimit: configuration.commandLineLengthLimit,
                        configuration: session,
                        policy: SessionPolicy(mode: mode, context: context),
                        remote: remote,
                        proxyAuthorized: remote?.ipAddress.map { ip in configuration.xclientFrom.contains { $0.contains(ip) } } ?? false,
                        headerLogLimit: configuration.headerLogLimit,
                        timeLimits: .init(idle: configuration.idleTimeout, session: configuration.sessionTimeLimit,
                                          data: configuration.dataTimeLimit),
                        clock: clocks.clock(for: channel.eventLoop),
                        maxErrors: configuration.maxErrors,
                        dataTiming: .init(readDelay: configuration.dataReadDelay, abortAfter: configuration.abortDataAfter,
                                          messageLimit: configuration.ruleMessageLimit),
                        metrics: metrics,
                        capture: configuration.capture,
                        disk: configuration.disk,
                        journal: configuration.journal,
                        listenerName: listenerName,
                        tls: tls,
                        tlsProfile: tlsProfile,
                        secured: implicitTLS,
                        stopLimits: configuration.stopLimits,
                        logger: logger
                        ))
                    }
                    if proxyProtocol {
                        try handlers.addHandler(ProxyProtocolHandler(timeout: TimeAmount(configuration.idleTimeout), logger: logger,
                                                                     startSession: startSession))
                    } else {
                        try startSession(channel, remote)
                    }
                }
            }
    }

    /// `127.0.0.1:2525`, `[::1]:2525`.
    public static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// Answers a connection over the limit `421 4.7.0 Too many connections` and closes it.
final class RefuseConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let reply: SMTPReply

    init(reply: SMTPReply) { self.reply = reply }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 48)
        buffer.writeSMTPReply(reply)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
