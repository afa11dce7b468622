import NIOCore
import Synchronization

/// One timer per event loop for every session on it.
///
/// A session has four deadlines (idle, whole session, DATA, linger after
/// close). Scheduling a task for each would cost an allocation and a heap
/// entry per connection and a schedule and cancel per message; instead each
/// loop's clock wakes every `tick` while it has sessions and asks each one
/// whether a deadline has passed. A limit fires between its deadline and one
/// tick later. With no session on the loop the clock does not run.
///
/// Confined to its event loop, like the handlers it serves.
final class SessionClock {
    let eventLoop: any EventLoop
    let tick: TimeAmount
    private var sessions: [SMTPSessionHandler] = []
    private var next: Scheduled<Void>?
    /// The last journal transcript that began on this loop, as its first line alone: a
    /// session whose first line (its greeting) is the same shares the bytes instead of
    /// copying them (``JournalWriter/appendFirst(_:at:_:sharing:)``).
    var journalFirstLine: [UInt8] = []

    init(eventLoop: any EventLoop, tick: TimeAmount) {
        self.eventLoop = eventLoop
        self.tick = tick
    }

    /// A tick a tenth of the shortest limit, between 10 ms and 1 s: a limit is
    /// enforced at most 10 % (or a second) late.
    static func tick(for limits: [Duration]) -> TimeAmount {
        let shortest = limits.min() ?? .seconds(1)
        return TimeAmount(min(max(shortest / 10, .milliseconds(10)), .seconds(1)))
    }

    var count: Int { sessions.count }

    func register(_ session: SMTPSessionHandler) {
        session.clockIndex = sessions.count
        sessions.append(session)
        if next == nil { arm() }
    }

    func deregister(_ session: SMTPSessionHandler) {
        let index = session.clockIndex
        guard index >= 0, index < sessions.count, sessions[index] === session else { return }
        let last = sessions.removeLast()
        if index < sessions.count {
            sessions[index] = last
            last.clockIndex = index
        }
        session.clockIndex = -1
        if sessions.isEmpty {
            next?.cancel()
            next = nil
        }
    }

    private func arm() {
        next = eventLoop.assumeIsolated().scheduleTask(in: tick) { [self] in
            next = nil
            sweep()
            if !sessions.isEmpty && next == nil { arm() }
        }
    }

    /// Tells every session whose deadline has passed. Acting on one may close
    /// it (and deregister it), so the expired are gathered first.
    func sweep() {
        let now = eventLoop.now
        var expired: [SMTPSessionHandler] = []
        for session in sessions where session.nextDeadline <= now {
            expired.append(session)
        }
        for session in expired { session.deadlinePassed(now: now) }
    }
}

/// The clock of each event loop, made on first use by a connection on that loop.
final class SessionClocks: Sendable {
    private let tick: TimeAmount
    /// One per event loop (a handful): searched in order, no hashing for every connection.
    private let clocks = Mutex<[(loop: ObjectIdentifier, clock: NIOLoopBound<SessionClock>)]>([])

    init(tick: TimeAmount) { self.tick = tick }

    /// The clock of `eventLoop`; call on that loop.
    func clock(for eventLoop: any EventLoop) -> SessionClock {
        clocks.withLock { clocks in
            let key = ObjectIdentifier(eventLoop)
            for entry in clocks where entry.loop == key { return entry.clock.value }
            let clock = SessionClock(eventLoop: eventLoop, tick: tick)
            clocks.append((key, NIOLoopBound(clock, eventLoop: eventLoop)))
            return clock
        }
    }
}
