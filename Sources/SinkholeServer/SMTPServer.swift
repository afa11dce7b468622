#if canImport(Glibc)
import Glibc
#endif
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
    private let unixPaths = Mutex<[String]>([])

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
        if configuration.stdio {
            // inetd's way (and swaks --pipe's): one session on standard input and output.
            let (_, initializer) = bootstrap(profile: configuration.profiles[0], address: configuration.listen[0])
            let channel = try await NIOPipeBootstrap(group: group)
                .channelInitializer(initializer)
                .takingOwnershipOfDescriptors(input: STDIN_FILENO, output: STDOUT_FILENO).get()
            listeners.withLock { $0 = [channel] }
            return []
        }
        do {
            for (index, address) in configuration.listen.enumerated() {
                let (bootstrap, _) = bootstrap(profile: configuration.profiles[index], address: address)
                if let path = address.unixPath {
                    try UnixSocketFile.prepare(path)
                    bound.append(try await bootstrap.bind(unixDomainSocketPath: path).get())
                    try UnixSocketFile.setMode(path, configuration.socketMode)
                    unixPaths.withLock { $0.append(path) }
                } else {
                    bound.append(try await bootstrap.bind(host: address.host, port: address.port).get())
                }
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
        // A UNIX-domain listener's file goes with it (its open sessions are not affected).
        for path in unixPaths.withLock({ $0 }) { UnixSocketFile.remove(path) }
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

    /// The listener's bootstrap, and what it does with each connection (also the
    /// `--stdio` session's, on standard input and output).
    private func bootstrap(profile: ListenerProfile?, address: ListenAddress)
        -> (ServerBootstrap, @Sendable (any Channel) -> EventLoopFuture<Void>)
    {
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
        if profile?.lmtp == true { listenerSession.lmtp = true }
        let session = listenerSession
        let tlsProfile = profile?.tlsProfile.flatMap { CertificateProfile(parsing: $0) } ?? configuration.tlsProfile
        let logger = logger
        let metrics = metrics
        let clocks = clocks
        // maxMessagesPerRead, the receive allocator and writeSpinCount keep SwiftNIO's defaults
        // (4, adaptive from 2 KiB, 16): a child channel option is applied through futures on
        // every accepted channel, and no other value measured better (bench/RESULTS.md, issue 16).
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(configuration.backlog))
        if address.unixPath == nil {
            bootstrap = bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.socketOption(.tcp_nodelay), value: 1)
            #if !os(Linux)
            // Linux's accepted sockets inherit TCP_NODELAY from the listener (checked by
            // test_every_accepted_connection_has_tcp_nodelay); a child channel option would cost
            // about 9,000 instructions a connection in SwiftNIO's option futures.
            bootstrap = bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            #endif
            if let window = configuration.tcpWindow {
                // Set on the listening socket, so accepted ones inherit it before the handshake sets the window scale.
                bootstrap = bootstrap.serverChannelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(window))
            }
            if configuration.ipv6Only && address.isIPv6 {
                bootstrap = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
            }
        }
        // What the listener's sessions share, made once: each handler holds a reference.
        let shared = SMTPSessionHandler.Shared(
            lineLengthLimit: configuration.commandLineLengthLimit,
            headerLogLimit: configuration.headerLogLimit,
            timeLimits: .init(idle: configuration.idleTimeout, session: configuration.sessionTimeLimit,
                              data: configuration.dataTimeLimit),
            maxErrors: configuration.maxErrors,
            dataTiming: .init(readDelay: configuration.dataReadDelay, abortAfter: configuration.abortDataAfter,
                              messageLimit: configuration.ruleMessageLimit),
            metrics: metrics,
            capture: configuration.capture,
            disk: configuration.disk,
            console: configuration.console,
            journal: configuration.journal,
            listenerName: listenerName,
            tls: tls,
            tlsProfile: tlsProfile,
            stopLimits: configuration.stopLimits,
            logger: logger,
            // Behind a PROXY header the header's handler takes the connection out.
            registry: proxyProtocol ? nil : registry)
        // The session's handlers; behind a PROXY header, once it named the client. Made
        // once per listener, not per connection.
        let startSession = { @Sendable (channel: any Channel, remote: SocketAddress?, mode: Mode) throws in
            let handlers = channel.pipeline.syncOperations
            if implicitTLS, let tls {
                try handlers.addHandler(TLSHelloTap())
                try handlers.addHandler(NIOSSLServerHandler(context: tls.context(tlsProfile)))
            }
            // Named: SwiftNIO would otherwise make a name ("handler0") for every connection.
            try handlers.addHandler(SMTPSessionHandler(
                shared: shared,
                configuration: session,
                policy: SessionPolicy(mode: mode, context: context),
                remote: remote,
                proxyAuthorized: Self.mayProxy(remote, configuration.xclientFrom),
                clock: clocks.clock(for: channel.eventLoop),
                secured: implicitTLS), name: "smtp-session")
        }
        let setUp = { @Sendable (channel: any Channel) throws in
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
            do {
                if proxyProtocol {
                    try handlers.addHandler(ProxyProtocolHandler(timeout: TimeAmount(configuration.idleTimeout), logger: logger,
                                                                 registry: registry,
                                                                 startSession: { try startSession($0, $1, mode) }))
                } else {
                    try startSession(channel, remote, mode)
                }
            } catch {
                // No handler that takes the connection out was added: SwiftNIO closes it.
                registry.remove(channel)
                throw error
            }
        }
        // SwiftNIO's event loops hand out one cached succeeded future: no future is made
        // and freed for every connection (with its generic metadata lookups, about 2,000
        // instructions; bench/RESULTS.md, issue 16).
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            do {
                try setUp(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        return (bootstrap.childChannelInitializer(initializer), initializer)
    }

    /// Whether `remote` may send XCLIENT and XFORWARD: in one of the networks, or on a
    /// UNIX-domain socket (this host, as trusted as loopback). From the address's bytes:
    /// this runs for every connection.
    static func mayProxy(_ remote: SocketAddress?, _ networks: [CIDR]) -> Bool {
        guard let remote, !networks.isEmpty || remote.protocol == .unix else { return false }
        switch remote {
        case .v4(let address):
            return withUnsafeBytes(of: address.address.sin_addr) { bytes in networks.contains { $0.contains(packed: bytes) } }
        case .v6(let address):
            return withUnsafeBytes(of: address.address.sin6_addr) { bytes in
                // An IPv4 client on a dual-stack listener arrives as ::ffff:a.b.c.d.
                let mapped = bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
                let checked = mapped ? UnsafeRawBufferPointer(rebasing: bytes[12...]) : bytes
                return networks.contains { $0.contains(packed: checked) }
            }
        case .unixDomainSocket:
            return true
        }
    }

    /// `127.0.0.1:2525`, `[::1]:2525`.
    public static func describe(_ address: SocketAddress) -> String {
        if case .unixDomainSocket = address { return "unix:\(address.pathname ?? "")" }
        guard let ip = address.ipText, let port = address.port else { return "\(address)" }
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

/// A UNIX-domain listener's socket file.
enum UnixSocketFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Makes way for a new socket at `path`: a stale one (from a crash: nobody
    /// answers on it) is removed; a live one, or a file that is no socket, is an error.
    static func prepare(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // nothing there
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw Failure(description: "\(path) exists and is not a socket")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 { throw Failure(description: "another server is listening on \(path)") }
        guard errno == ECONNREFUSED else {
            throw Failure(description: "cannot tell whether \(path) is in use: \(String(cString: strerror(errno)))")
        }
        guard unlink(path) == 0 else { throw Failure(description: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))") }
    }

    static func setMode(_ path: String, _ mode: Int) throws {
        guard chmod(path, mode_t(mode)) == 0 else {
            throw Failure(description: "cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func remove(_ path: String) {
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
    }
}

extension SocketAddress {
    /// The IP address as text, as ``SocketAddress/ipAddress`` gives it, but an IPv4
    /// address written from its four bytes: `ipAddress` goes through `inet_ntop`, whose
    /// `sprintf` cost about 1,700 instructions for every connection.
    var ipText: String? {
        guard case .v4(let address) = self else { return ipAddress }
        return withUnsafeBytes(of: address.address.sin_addr) { bytes in
            String(unsafeUninitializedCapacity: 15) { out in
                let out = UnsafeMutableRawBufferPointer(out)
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index > 0 {
                        out[at] = UInt8(ascii: ".")
                        at += 1
                    }
                    at = ASCIIDecimal.put(Int(byte), into: out, at: at)
                }
                return at
            }
        }
    }
}
