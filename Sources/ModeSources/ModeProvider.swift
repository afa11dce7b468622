import Foundation
import Logging
import Metrics
import SinkholePolicy
import Synchronization

/// The mode sessions start with: the last good value read from a
/// ``ModeSource``, refreshed in the background.
///
/// Sessions read ``current``, a lock-protected snapshot that never waits for
/// the source. Only ``refresh()`` reads the source, and concurrent calls share
/// one read, so a thousand connections arriving together cause no extra reads.
/// A failed read or an unknown name keeps the last good mode (``fallback``,
/// `defer`, when there never was one) and logs `mode_source_error`; each real
/// change is logged once as `mode_changed`.
public final class ModeProvider: Sendable {
    public struct Snapshot: Hashable, Sendable {
        /// The mode sessions use now.
        public var mode: Mode
        /// `false` until the source has once given a good value.
        public var isKnown: Bool
        /// When the source was last read (successfully or not).
        public var lastRead: ContinuousClock.Instant?
        /// The reason of the last failed read, cleared by a good one.
        public var lastError: String?
        /// How many times the source was read.
        public var reads: Int
        /// How many reads failed.
        public var errors: Int
        /// The mode the API set (`PUT /api/v1/mode`), in force over the source's until it expires.
        public var override: Mode?
        public var overrideExpires: ContinuousClock.Instant?
    }

    private struct State: Sendable {
        var snapshot: Snapshot
        var lastFailure: ModeSourceError?
        var inFlight = false
        var waiters: [CheckedContinuation<Void, Never>] = []

        /// An override that expired and is not yet logged.
        var expired: Mode?

        /// The override, or nil once it has expired.
        mutating func liveOverride(at instant: @autoclosure () -> ContinuousClock.Instant) -> Mode? {
            guard let mode = snapshot.override else { return nil }
            if let expires = snapshot.overrideExpires, instant() >= expires {
                snapshot.override = nil
                snapshot.overrideExpires = nil
                expired = mode
                return nil
            }
            return mode
        }
    }

    public let source: any ModeSource
    /// How long a value is used before the source is read again.
    public let ttl: Duration
    /// The mode used while the source has never given a good value.
    public let fallback: Mode
    private let logger: Logger
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state: Mutex<State>
    private let metrics: Metrics
    /// Told of each change of the mode sessions start with.
    public let events: EventHub?

    public static let defaultTTL: Duration = .seconds(30)

    public init(
        source: any ModeSource,
        ttl: Duration = defaultTTL,
        fallback: Mode = .defer,
        logger: Logger,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        events: EventHub? = nil
    ) {
        self.events = events
        self.source = source
        self.ttl = ttl
        self.fallback = fallback
        self.logger = logger
        self.now = now
        self.state = Mutex(State(snapshot: Snapshot(mode: fallback, isKnown: false, reads: 0, errors: 0)))
        self.metrics = Metrics(source: source, factory: metricsFactory)
        metrics.show(fallback, known: false)
    }

    /// The mode a session accepted now starts with: the API's override, else the source's. Never waits.
    public var current: Mode {
        let (mode, expired) = state.withLock { state -> (Mode, Mode?) in
            guard state.snapshot.override != nil else { return (state.snapshot.mode, nil) }
            let mode = state.liveOverride(at: now()) ?? state.snapshot.mode
            defer { state.expired = nil }
            return (mode, state.expired)
        }
        if let expired { logExpiry(expired, now: mode) }
        return mode
    }

    public var snapshot: Snapshot {
        let (snapshot, expired) = state.withLock { state -> (Snapshot, Mode?) in
            _ = state.liveOverride(at: now())
            defer { state.expired = nil }
            return (state.snapshot, state.expired)
        }
        if let expired { logExpiry(expired, now: snapshot.mode) }
        return snapshot
    }

    private func logExpiry(_ old: Mode, now mode: Mode) {
        metrics.show(mode, known: true)
        changed(metadata: ["old": "\(old)", "new": "\(mode)", "source": "\(source.name)",
                                                 "note": "API override expired"])
    }

    /// Logs `mode_changed` and tells the event listeners.
    private func changed(metadata: Logger.Metadata) {
        logger.notice("mode_changed", metadata: metadata)
        events?.publish(ServerEvent(.modeChanged, metadata.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }))
    }

    /// Sets the mode from the API, over the source's, for `ttl` (nil: until cleared). Logged as `mode_changed`, source `api`.
    public func setOverride(_ mode: Mode, ttl: Duration?) {
        let instant = now()
        let old = state.withLock { state -> Mode in
            let old = state.liveOverride(at: instant) ?? state.snapshot.mode
            state.expired = nil
            state.snapshot.override = mode
            state.snapshot.overrideExpires = ttl.map { instant.advanced(by: $0) }
            return old
        }
        metrics.show(mode, known: true)
        var metadata: Logger.Metadata = ["old": "\(old)", "new": "\(mode)", "source": "api"]
        if let ttl { metadata["ttl"] = "\(ttl)" }
        changed(metadata: metadata)
    }

    /// Back to the source's mode. Returns whether an override was in force.
    @discardableResult
    public func clearOverride() -> Bool {
        let instant = now()
        let (old, current, known) = state.withLock { state -> (Mode?, Mode, Bool) in
            let old = state.liveOverride(at: instant)
            state.expired = nil
            state.snapshot.override = nil
            state.snapshot.overrideExpires = nil
            return (old, state.snapshot.mode, state.snapshot.isKnown)
        }
        guard let old else { return false }
        metrics.show(current, known: known)
        changed(metadata: ["old": "\(old)", "new": "\(current)", "source": "\(source.name)",
                                                 "note": "API override cleared"])
        return true
    }

    /// `true` when no read has happened yet or the last one is a TTL old.
    public func isStale(at instant: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            guard let lastRead = state.snapshot.lastRead else { return true }
            return instant >= lastRead.advanced(by: ttl)
        }
    }

    /// How many ``refresh()`` calls wait for the read in flight (for tests: they
    /// release a held read only once every joiner is waiting).
    var waitingRefreshes: Int { state.withLock { $0.waiters.count } }

    /// Reads the source once and publishes the result. A call made while a
    /// read is under way waits for that read instead of starting another.
    /// Returns the error of the read, if it failed.
    @discardableResult
    public func refresh() async -> ModeSourceError? {
        let startsRead: Bool = state.withLock { state in
            if state.inFlight { return false }
            state.inFlight = true
            return true
        }
        guard startsRead else {
            await withCheckedContinuation { continuation in
                let waiting = state.withLock { state in
                    if state.inFlight { state.waiters.append(continuation) }
                    return state.inFlight
                }
                if !waiting { continuation.resume() }
            }
            return state.withLock { $0.lastFailure }
        }

        let result: Result<Mode, ModeSourceError>
        do {
            let raw = try await source.fetch()
            if let mode = Mode(parsing: raw) {
                result = .success(mode)
            } else {
                let shown = String(raw.trimmingCharacters(in: .whitespacesAndNewlines).prefix(64))
                result = .failure(ModeSourceError("unknown mode \"\(shown)\" (expected one of \(Mode.names))"))
            }
        } catch {
            result = .failure(error)
        }
        return publish(result, at: now())
    }

    /// Reads the source if the cached value is at least a TTL old.
    public func refreshIfStale() async {
        if isStale(at: now()) { await refresh() }
    }

    private func publish(_ result: Result<Mode, ModeSourceError>, at instant: ContinuousClock.Instant) -> ModeSourceError? {
        if case .failure = result, Task.isCancelled {
            // Shutting down: the read was abandoned, which is not the source's fault.
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.inFlight = false
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
            return nil
        }
        let (previous, waiters) = state.withLock { state -> (Snapshot, [CheckedContinuation<Void, Never>]) in
            let previous = state.snapshot
            state.snapshot.reads += 1
            state.snapshot.lastRead = instant
            switch result {
            case .success(let mode):
                state.snapshot.mode = mode
                state.snapshot.isKnown = true
                state.snapshot.lastError = nil
                state.lastFailure = nil
            case .failure(let error):
                state.snapshot.errors += 1
                state.snapshot.lastError = error.reason
                state.lastFailure = error
            }
            state.inFlight = false
            let waiters = state.waiters
            state.waiters = []
            return (previous, waiters)
        }
        for waiter in waiters { waiter.resume() }
        metrics.refreshes.increment()

        switch result {
        case .success(let mode):
            metrics.show(previous.override ?? mode, known: true)
            if previous.isKnown && previous.mode != mode {
                var metadata: Logger.Metadata = ["old": "\(previous.mode)", "new": "\(mode)", "source": "\(source.name)"]
                if let override = previous.override {
                    metadata["note"] = "the API's override (\(override)) stays in force until it expires or is cleared"
                }
                changed(metadata: metadata)
            } else if !previous.isKnown && previous.errors > 0 {
                changed(metadata: [
                    "old": "\(previous.mode)", "new": "\(mode)", "source": "\(source.name)",
                    "note": "first good value from the source",
                ])
            }
            return nil
        case .failure(let error):
            metrics.errors.increment()
            var metadata: Logger.Metadata = [
                "source": "\(source.name)", "reason": "\(error.reason)",
            ]
            for (key, value) in error.details { metadata[key] = "\(value)" }
            if let retryAfter = error.retryAfter { metadata["retry_after"] = "\(retryAfter)" }
            if previous.isKnown {
                metadata["kept"] = "\(previous.mode)"
            } else {
                metadata["using"] = "\(fallback)"
                metadata["note"] = "no good value yet: using the fallback mode"
            }
            logger.error("mode_source_error", metadata: metadata)
            return error
        }
    }
}

extension ModeProvider {
    /// `sinkhole_mode{mode}` (1 for the mode sessions start with, 0 for the
    /// others), `sinkhole_mode_known`, and the source's reads and failures
    /// labelled by its kind (`static`, `env`, `file`, `ssm`).
    struct Metrics: Sendable {
        let modes: [Mode: Gauge]
        let known: Gauge
        let refreshes: Counter
        let errors: Counter

        init(source: any ModeSource, factory: any MetricsFactory) {
            let kind = String(source.name.prefix { $0 != ":" })
            var modes: [Mode: Gauge] = [:]
            for mode in Mode.allCases {
                modes[mode] = Gauge(label: "sinkhole_mode", dimensions: [("mode", mode.rawValue)], factory: factory)
            }
            self.modes = modes
            known = Gauge(label: "sinkhole_mode_known", factory: factory)
            refreshes = Counter(label: "sinkhole_mode_refreshes_total", dimensions: [("source", kind)], factory: factory)
            errors = Counter(label: "sinkhole_mode_refresh_errors_total", dimensions: [("source", kind)], factory: factory)
        }

        func show(_ current: Mode, known isKnown: Bool) {
            for (mode, gauge) in modes { gauge.record(mode == current ? 1 : 0) }
            known.record(isKnown ? 1 : 0)
        }
    }
}
