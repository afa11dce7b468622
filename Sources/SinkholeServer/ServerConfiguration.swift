import Foundation
import SMTPProtocol
import SinkholeConfig
import SinkholePolicy
import SinkholeTLS

/// How the SMTP listener runs.
public struct ServerConfiguration: Sendable {
    /// Where to listen. Default `127.0.0.1:2525`.
    public var listen: [ListenAddress]
    /// Hostname, limits and extensions of each session.
    public var session: SessionConfiguration
    /// Longest command line, CRLF excluded. Default 2048.
    public var commandLineLengthLimit: Int
    /// Most connections at once; the next gets `421 4.7.0 Too many connections`. Default 10,000.
    public var maxConnections: Int
    /// How long a client may stay silent before `421 4.4.2 Idle timeout`. Default 300 s.
    public var idleTimeout: Duration
    /// How long a whole session may last before `421 4.4.2 Session time limit exceeded`. Default 30 min.
    public var sessionTimeLimit: Duration
    /// How long one message's content may take before `421 4.4.2 DATA time limit exceeded`. Default 10 min.
    public var dataTimeLimit: Duration
    /// Command errors a session may make before `421 4.7.0 Too many errors`. Default 20.
    public var maxErrors: Int
    /// After SIGTERM, how long messages in DATA may take to finish. Default 10 s.
    public var shutdownGracePeriod: Duration
    /// Most header bytes an `accept-log` line carries. Default 64 KiB.
    public var headerLogLimit: Int
    /// Each listener's profile, by its index in `listen`; none for a plain listener.
    public var profiles: [Int: ListenerProfile]
    /// smtp-sink's `-H`: the first read after `354` waits this long.
    public var dataReadDelay: Duration?
    /// smtp-sink's `-A`: this long after `354`, `550` and no more reading.
    public var abortDataAfter: Duration?
    /// Most message bytes kept for rules that read the message (`header:`, the final dot's argument).
    public var ruleMessageLimit: Int
    /// Where accepted messages are kept (`--capture memory`); nil: bodies are discarded.
    public var capture: MailStore?
    /// Where accepted messages are written (`--maildir`, `--dump-each`, `--dump-append`); nil: not written.
    public var disk: DiskCapture?
    /// Who may send XCLIENT and XFORWARD (`--xclient-from`).
    public var xclientFrom: [CIDR]
    /// smtp-sink's `-c`, `-v`, `-s` (`--counters`, `--show-conversation`, `--syslog-commands`).
    public var console: ConsoleOutput?
    /// smtp-sink's `-T` (`--tcp-window`): the receive buffer of each connection, which sets the TCP window.
    public var tcpWindow: Int?
    /// The file mode of UNIX-domain listeners (`--socket-mode`).
    public var socketMode = 0o666
    /// listen(2)'s backlog (`--listen-backlog`).
    public var backlog = 4096
    /// `--stdio`: one session on standard input and output instead of listening (inetd, `swaks --pipe`).
    public var stdio = false
    /// `--ipv6-only` (smtp-sink's `-6`): IPv6 listeners take no IPv4-mapped clients.
    public var ipv6Only = false
    /// Where finished sessions' transcripts are kept; nil: not kept.
    public var journal: SessionJournal?
    /// The certificates of STARTTLS and implicit TLS; nil: no TLS anywhere.
    public var tls: TLSServerContexts?
    /// The certificate a TLS listener presents unless its profile names another.
    public var tlsProfile: CertificateProfile
    /// AUTH only after TLS: nil (auto) on listeners that are not loopback; else everywhere or nowhere.
    public var authOverTLSOnly: Bool?
    /// `--stop-after-messages`, `--stop-after-sessions`; nil: run until stopped.
    public var stopLimits: StopLimits?

    public init(
        listen: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 2525)],
        session: SessionConfiguration,
        commandLineLengthLimit: Int = SMTPDefaults.commandLineLengthLimit,
        maxConnections: Int = SMTPDefaults.maxConnections,
        idleTimeout: Duration = .seconds(SMTPDefaults.idleTimeoutSeconds),
        sessionTimeLimit: Duration = .seconds(SMTPDefaults.sessionTimeLimitSeconds),
        dataTimeLimit: Duration = .seconds(SMTPDefaults.dataTimeLimitSeconds),
        maxErrors: Int = SMTPDefaults.maxErrors,
        shutdownGracePeriod: Duration = .seconds(10),
        headerLogLimit: Int = 64 * 1024,
        profiles: [Int: ListenerProfile] = [:],
        dataReadDelay: Duration? = nil,
        abortDataAfter: Duration? = nil,
        ruleMessageLimit: Int = 1 << 20,
        capture: MailStore? = nil,
        disk: DiskCapture? = nil,
        xclientFrom: [CIDR] = [],
        console: ConsoleOutput? = nil,
        tcpWindow: Int? = nil,
        socketMode: Int = 0o666,
        backlog: Int = 4096,
        stdio: Bool = false,
        ipv6Only: Bool = false,
        journal: SessionJournal? = nil,
        tls: TLSServerContexts? = nil,
        tlsProfile: CertificateProfile = .valid,
        authOverTLSOnly: Bool? = false,
        stopLimits: StopLimits? = nil
    ) {
        self.stopLimits = stopLimits
        self.authOverTLSOnly = authOverTLSOnly
        self.tls = tls
        self.tlsProfile = tlsProfile
        self.capture = capture
        self.disk = disk
        self.xclientFrom = xclientFrom
        self.socketMode = socketMode
        self.backlog = backlog
        self.stdio = stdio
        self.console = console
        self.tcpWindow = tcpWindow
        self.ipv6Only = ipv6Only
        self.journal = journal
        self.profiles = profiles
        self.dataReadDelay = dataReadDelay
        self.abortDataAfter = abortDataAfter
        self.ruleMessageLimit = ruleMessageLimit
        self.listen = listen
        self.session = session
        self.commandLineLengthLimit = commandLineLengthLimit
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.sessionTimeLimit = sessionTimeLimit
        self.dataTimeLimit = dataTimeLimit
        self.maxErrors = maxErrors
        self.shutdownGracePeriod = shutdownGracePeriod
        self.headerLogLimit = headerLogLimit
    }
}
