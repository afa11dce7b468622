import NIOCore
import Synchronization

/// Sent down each open connection's pipeline when sinkhole shuts down.
public struct ShutdownRequested: Sendable {}

/// The open SMTP connections: their count, for the connection limit, and the
/// channels themselves, so shutdown can reach each one.
final class ConnectionRegistry: Sendable {
    private struct State {
        /// Each channel as a plain reference (8 bytes, not the 16 of `any Channel`: 10,000
        /// connections' table is 130 KB smaller); cast back only at shutdown.
        var channels: [ObjectIdentifier: AnyObject] = [:]
        var shuttingDown = false
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    var count: Int { state.withLock { $0.channels.count } }

    /// Registers `channel` unless the limit is reached or shutdown began.
    ///
    /// An admitted channel is taken out with ``remove(_:)`` by the handler that lives as
    /// long as the connection (the session handler, or a PROXY listener's header handler),
    /// from its `handlerRemoved`, which SwiftNIO calls for every handler of a closed
    /// channel. Not from a callback on the channel's close future: that costs two
    /// allocations (80 bytes) for every open connection.
    func admit(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard !state.shuttingDown, state.channels.count < limit else { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    /// Takes out an admitted channel (on its event loop, while it still exists: a
    /// later channel may get its identifier once it is gone).
    func remove(_ channel: any Channel) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.channels[ObjectIdentifier(channel)] = nil
            guard state.channels.isEmpty else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Refuses new connections and tells every open one to finish.
    func beginShutdown() {
        let channels = state.withLock { state in
            state.shuttingDown = true
            return state.channels.values.compactMap { $0 as? any Channel }
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ShutdownRequested())
        }
    }

    /// Returns when no connection is open.
    func waitUntilDrained() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.channels.isEmpty { return true }
                state.drained.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Closes whatever is still open.
    func closeAll() {
        let channels = state.withLock { $0.channels.values.compactMap { $0 as? any Channel } }
        for channel in channels { channel.close(promise: nil) }
    }
}
