import Synchronization

/// smtp-sink's `-M` and `-n`: stop, as on SIGTERM, once this many messages
/// were accepted or this many sessions ended (`--stop-after-messages`,
/// `--stop-after-sessions`). Counted by every session; `reached` is called
/// once, off no particular thread, by the session that reaches a limit.
public final class StopLimits: Sendable {
    public let messages: Int?
    public let sessions: Int?
    private let accepted = Atomic<Int>(0)
    private let ended = Atomic<Int>(0)
    private let fired = Atomic<Bool>(false)
    private let reached: @Sendable (_ limit: String, _ count: Int) -> Void

    public init(messages: Int?, sessions: Int?, reached: @escaping @Sendable (_ limit: String, _ count: Int) -> Void) {
        self.messages = messages
        self.sessions = sessions
        self.reached = reached
    }

    /// A message was answered 2xx at its final dot.
    func messageAccepted() {
        guard let messages else { return }
        let count = accepted.wrappingAdd(1, ordering: .relaxed).newValue
        if count >= messages { fire("stop_after_messages", count) }
    }

    /// A session ended (its connection closed).
    func sessionEnded() {
        guard let sessions else { return }
        let count = ended.wrappingAdd(1, ordering: .relaxed).newValue
        if count >= sessions { fire("stop_after_sessions", count) }
    }

    private func fire(_ limit: String, _ count: Int) {
        guard fired.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        reached(limit, count)
    }
}
