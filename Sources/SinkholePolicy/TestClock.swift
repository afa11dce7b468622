import Synchronization

/// The time greylist windows, rule lifetimes and counters see, which a test
/// may move forward (`--test-clock`, `POST /api/v1/clock`). Wire delays and
/// timeouts keep real time.
public final class TestClock: Sendable {
    private let offset = Mutex<Duration>(.zero)

    public init() {}

    public var now: ContinuousClock.Instant { ContinuousClock.now.advanced(by: offset.withLock { $0 }) }

    /// How far the clock has been moved.
    public var advanced: Duration { offset.withLock { $0 } }

    public func advance(by duration: Duration) {
        offset.withLock { $0 += duration }
    }
}
