import Synchronization

/// The clients the `greylist` mode has seen, keyed by IP address.
///
/// A client not in the table (or whose entry has expired) is deferred and
/// recorded; one that comes back within the window is let through, and its
/// entry lasts another window from then. The table holds at most `capacity`
/// entries and forgets the least recently seen client first, so a flood of
/// addresses cannot grow it without bound. Safe to share across event loops.
public final class GreylistTable: Sendable {
    public struct Statistics: Hashable, Sendable {
        public var entries: Int
        public var evictions: Int
    }

    private struct State: Sendable {
        var table: LRUTable<String, ContinuousClock.Instant>
        var evictions = 0
    }

    /// How long an entry lasts after the client was last seen.
    public let window: Duration
    public let capacity: Int
    private let state: Mutex<State>

    public static let defaultWindow: Duration = .seconds(30 * 60)
    public static let defaultCapacity = 100_000

    public init(window: Duration = defaultWindow, capacity: Int = defaultCapacity) {
        self.window = window
        self.capacity = capacity
        self.state = Mutex(State(table: LRUTable(capacity: max(1, capacity))))
    }

    /// Records an attempt from `clientIP` at `now`; returns `true` when the
    /// client was seen within the window (let it through), `false` when it is
    /// new or its entry expired (defer it).
    public func admit(_ clientIP: String, now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            let expiry = now.advanced(by: window)
            if let previous = state.table.value(for: clientIP), now < previous {
                state.table.set(expiry, for: clientIP)
                return true
            }
            if state.table.set(expiry, for: clientIP) != nil { state.evictions += 1 }
            return false
        }
    }

    public var statistics: Statistics {
        state.withLock { Statistics(entries: $0.table.count, evictions: $0.evictions) }
    }
}
