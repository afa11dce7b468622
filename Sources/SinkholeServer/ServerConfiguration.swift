import Foundation
import SMTPProtocol

/// A `HOST:PORT` to listen on. `[::1]:2525` for IPv6; port 0 picks a free port.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:2525`, `0.0.0.0:25`, `[::1]:2525`.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else { return nil }
        self.init(host: String(hostPart), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

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
        headerLogLimit: Int = 64 * 1024
    ) {
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
