import Synchronization

/// Things that happen, for `GET /api/v1/events` (server-sent events): a
/// message captured, a session closed, the mode changed, a rule used up.
public struct ServerEvent: Sendable {
    public enum Kind: String, Sendable {
        case messageCaptured = "message_captured"
        case sessionClosed = "session_closed"
        case modeChanged = "mode_changed"
        case ruleExhausted = "rule_exhausted"
    }

    public var kind: Kind
    /// The event's fields, as text (`{"queue_id": "...", "from": "..."}`).
    public var fields: [(String, String)]

    public init(_ kind: Kind, _ fields: [(String, String)]) {
        self.kind = kind
        self.fields = fields
    }
}

/// Hands events to whoever listens; costs one load when nobody does.
/// Each listener keeps at most `buffer` events it has not read; older ones
/// are dropped (a slow reader cannot grow sinkhole's memory).
public final class EventHub: Sendable {
    public static let maxListeners = 64
    public static let buffer = 256

    private let listeners = Mutex<[Int: AsyncStream<ServerEvent>.Continuation]>([:])
    private let next = Mutex(0)
    private let listening = Atomic<Int>(0)

    public init() {}

    public var hasListeners: Bool { listening.load(ordering: .relaxed) > 0 }

    public func publish(_ event: @autoclosure () -> ServerEvent) {
        guard hasListeners else { return }
        let event = event()
        let continuations = listeners.withLock { Array($0.values) }
        for continuation in continuations { continuation.yield(event) }
    }

    /// A stream of what happens from now on; nil when too many already listen.
    public func subscribe() -> AsyncStream<ServerEvent>? {
        let id = next.withLock { n -> Int in n += 1; return n }
        let (stream, continuation) = AsyncStream.makeStream(of: ServerEvent.self, bufferingPolicy: .bufferingNewest(Self.buffer))
        let admitted = listeners.withLock { listeners -> Bool in
            guard listeners.count < Self.maxListeners else { return false }
            listeners[id] = continuation
            return true
        }
        guard admitted else { continuation.finish(); return nil }
        listening.add(1, ordering: .relaxed)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            let removed = self.listeners.withLock { $0.removeValue(forKey: id) != nil }
            if removed { self.listening.subtract(1, ordering: .relaxed) }
        }
        return stream
    }

    /// Ends every stream (shutdown).
    public func finishAll() {
        let continuations = listeners.withLock { listeners -> [AsyncStream<ServerEvent>.Continuation] in
            defer { listeners = [:] }
            return Array(listeners.values)
        }
        listening.store(0, ordering: .relaxed)
        for continuation in continuations { continuation.finish() }
    }
}
