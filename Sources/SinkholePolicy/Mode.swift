import SMTPProtocol

/// How sinkhole answers mail. The decision is taken at `RCPT TO`.
///
/// | mode | RCPT TO | DATA / end of data |
/// | --- | --- | --- |
/// | `defer` | `421 4.3.2 Service temporarily unavailable`, then close | — |
/// | `bounce` | `550 5.1.1 User unknown` | `554 5.5.1 No valid recipients` |
/// | `accept` | `250 2.1.5 OK` | `354`, then `250 2.0.0 OK queued as <id>` |
/// | `accept-log` | as `accept` | as `accept`, and one log line a message |
/// | `greylist` | unseen client IP: `421 4.3.2`; a retry within the window: as `accept` | |
public enum Mode: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case `defer` = "defer"
    case bounce = "bounce"
    case accept = "accept"
    case acceptLog = "accept-log"
    case greylist = "greylist"

    /// Parses a mode name case-insensitively, ignoring surrounding white space
    /// (a file saved with a trailing newline, an SSM value typed with a space).
    public init?(parsing text: some StringProtocol) {
        self.init(rawValue: text.trimmingSMTPWhitespace().lowercased())
    }

    public var description: String { rawValue }

    /// `true` when every accepted message gets a log line.
    public var logsMessages: Bool { self == .acceptLog }

    /// The names, for error messages: `defer, bounce, accept, accept-log, greylist`.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
