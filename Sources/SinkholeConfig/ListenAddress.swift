import Foundation

/// A `HOST:PORT` to listen on. `[::1]:2525` for IPv6; port 0 picks a free port;
/// `unix:/path` a UNIX-domain socket.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// A UNIX-domain socket's path (`unix:/run/sinkhole/lmtp`); nil for TCP.
    public var unixPath: String?

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(unixPath: String) {
        self.host = ""
        self.port = 0
        self.unixPath = unixPath
    }

    /// Parses `127.0.0.1:2525`, `0.0.0.0:25`, `[::1]:2525`, `unix:/path` (and smtp-sink's `inet:` before an address).
    public init?(parsing text: String) {
        var text = text.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            // sockaddr_un holds 107 bytes and a NUL.
            guard !path.isEmpty, path.utf8.count <= 107, !path.utf8.contains(0) else { return nil }
            self.init(unixPath: path)
            return
        }
        if text.hasPrefix("inet:") { text = String(text.dropFirst(5)) }
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

    public var description: String {
        if let unixPath { return "unix:\(unixPath)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// An IPv6 host (`::`, `::1`, `2001:db8::1`), as opposed to IPv4 or a name.
    public var isIPv6: Bool { unixPath == nil && host.contains(":") }
}
