#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import Synchronization

/// smtp-sink's terminal switches, on stderr (stdout is the log):
/// `--counters` (its `-c`), `--show-conversation` (`-v`), and which commands
/// `--syslog-commands` (`-s`) makes log lines of.
///
/// Writes go through a queue of their own, never from an event loop; at most
/// ``limit`` wait, and past that lines are dropped (a terminal that does not
/// keep up must not hold sessions back).
public final class ConsoleOutput: Sendable {
    /// `-c`: `sess=N quit=N mesg=N` and a carriage return, after each session, QUIT and message.
    public let counters: Bool
    /// `-v`: every command and reply, with the client's address.
    public let conversation: Bool
    /// `-s`: these commands (upper-cased smtp-sink names: `CONNECT`, `HELO`, `MAIL`, `.`…) are logged as `command` lines.
    public let loggedCommands: Set<String>

    private let sessions = Atomic<Int>(0)
    private let quits = Atomic<Int>(0)
    private let messages = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "sinkhole.console")
    private let pending = Atomic<Int>(0)
    static let limit = 10_000

    public init(counters: Bool = false, conversation: Bool = false, loggedCommands: Set<String> = []) {
        self.counters = counters
        self.conversation = conversation
        self.loggedCommands = loggedCommands
    }

    /// Anything to do at all: a session holds one only then.
    public var isActive: Bool { counters || conversation || !loggedCommands.isEmpty }

    func sessionEnded() { count(sessions) }
    func quit() { count(quits) }
    func message() { count(messages) }

    private func count(_ counter: borrowing Atomic<Int>) {
        guard counters else { return }
        counter.wrappingAdd(1, ordering: .relaxed)
        let line = "sess=\(sessions.load(ordering: .relaxed)) quit=\(quits.load(ordering: .relaxed)) mesg=\(messages.load(ordering: .relaxed))\r"
        write(line)
    }

    /// `sinkhole: 127.0.0.1:40000 < MAIL FROM:<a@example.com>` (`<` the client's, `>` sinkhole's).
    /// The client's address is worked out only when the conversation is shown.
    func converse(_ client: @autoclosure () -> String, _ direction: String, _ text: @autoclosure () -> String) {
        guard conversation else { return }
        let text = text()
        write(text.isEmpty ? "sinkhole: \(client()) \(direction)\n" : "sinkhole: \(client()) \(direction) \(text)\n")
    }

    private func write(_ text: String) {
        if pending.wrappingAdd(1, ordering: .relaxed).newValue > Self.limit {
            pending.wrappingSubtract(1, ordering: .relaxed)
            return
        }
        queue.async {
            var bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }
                offset += written
            }
            self.pending.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    /// Returns once every queued line is written.
    public func flush() { queue.sync {} }
}
