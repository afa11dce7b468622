import Foundation
import Logging
import MetricsTestKit
import SinkholePolicy
import Synchronization
import Testing
@testable import ModeSources

/// A source whose answers the test scripts, and which can hold a read open.
final class ScriptedSource: ModeSource, Sendable {
    private let state = Mutex<(answers: [Result<String, ModeSourceError>], reads: Int)>(([], 0))
    private let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let holding = Mutex(false)
    let name = "scripted"
    let changes = true

    func answer(_ result: Result<String, ModeSourceError>) { state.withLock { $0.answers.append(result) } }
    var reads: Int { state.withLock { $0.reads } }

    /// Makes the next read wait until `release()`.
    func hold() { holding.withLock { $0 = true } }
    func release() {
        holding.withLock { $0 = false }
        gate.withLock { $0 }?.resume()
    }
    var isWaiting: Bool { gate.withLock { $0 != nil } }

    func fetch() async throws(ModeSourceError) -> String {
        if holding.withLock({ $0 }) {
            await withCheckedContinuation { continuation in gate.withLock { $0 = continuation } }
        }
        let answer = state.withLock { state -> Result<String, ModeSourceError> in
            state.reads += 1
            return state.answers.isEmpty ? .failure(ModeSourceError("no answer scripted")) : state.answers.removeFirst()
        }
        return try answer.get()
    }
}

/// Collects log events so tests can assert on them.
final class LogRecorder: Sendable {
    struct Entry: Sendable { var level: Logger.Level; var event: String; var metadata: [String: String] }
    private let entries = Mutex<[Entry]>([])
    var all: [Entry] { entries.withLock { $0 } }
    func events(_ name: String) -> [Entry] { all.filter { $0.event == name } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let metadata = (event.metadata ?? [:]).mapValues { "\($0)" }
            recorder.entries.withLock {
                $0.append(Entry(level: event.level, event: event.message.description, metadata: metadata))
            }
        }
    }
}

final class ManualClock: Sendable {
    private let base = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)
    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
    var now: ContinuousClock.Instant { base.advanced(by: offset.withLock { $0 }) }
}

@Suite("Mode provider")
struct ModeProviderTests {
    @Test("The API's override wins over the source until it expires or is cleared, each change logged once")
    func override() async {
        let source = ScriptedSource()
        let log = LogRecorder()
        let clock = ManualClock()
        let provider = ModeProvider(source: source, logger: log.logger, now: { clock.now })
        source.answer(.success("defer"))
        await provider.refresh()
        provider.setOverride(.bounce, ttl: .seconds(60))
        #expect(provider.current == .bounce)
        #expect(provider.snapshot.mode == .defer, "the source's mode stays on record")
        source.answer(.success("accept"))
        await provider.refresh()
        #expect(provider.current == .bounce, "a new value from the source does not end the override")
        clock.advance(by: .seconds(61))
        #expect(provider.current == .accept)
        #expect(provider.current == .accept)
        let changes = log.events("mode_changed")
        #expect(changes.map { $0.metadata["source"] } == ["api", "scripted", "scripted"])
        #expect(changes.last?.metadata["note"] == "API override expired")
        provider.setOverride(.greylist, ttl: nil)
        clock.advance(by: .seconds(3600))
        #expect(provider.current == .greylist)
        #expect(provider.clearOverride())
        #expect(!provider.clearOverride())
        #expect(provider.current == .accept)
    }

    @Test("Before any good value the fallback is defer; a good value replaces it")
    func fallback() async {
        let source = ScriptedSource()
        let log = LogRecorder()
        let provider = ModeProvider(source: source, logger: log.logger)
        #expect(provider.current == .defer)
        #expect(!provider.snapshot.isKnown)
        source.answer(.failure(ModeSourceError("unreachable")))
        #expect(await provider.refresh() == ModeSourceError("unreachable"))
        #expect(provider.current == .defer)
        #expect(log.events("mode_source_error").first?.metadata["using"] == "defer")
        source.answer(.success("accept"))
        #expect(await provider.refresh() == nil)
        #expect(provider.current == .accept)
        #expect(provider.snapshot.isKnown)
    }

    @Test("A failed read or an unknown name keeps the last good mode and logs the reason")
    func lastGood() async {
        let source = ScriptedSource()
        let log = LogRecorder()
        let provider = ModeProvider(source: source, logger: log.logger)
        source.answer(.success("bounce"))
        await provider.refresh()
        source.answer(.success("nonsense"))
        #expect(await provider.refresh() != nil)
        #expect(provider.current == .bounce)
        source.answer(.failure(ModeSourceError("cannot read /x: No such file or directory")))
        await provider.refresh()
        #expect(provider.current == .bounce)
        let errors = log.events("mode_source_error")
        #expect(errors.count == 2)
        #expect(errors[0].metadata["reason"]?.contains("unknown mode \"nonsense\"") == true)
        #expect(errors[0].metadata["kept"] == "bounce")
        #expect(errors[1].metadata["reason"] == "cannot read /x: No such file or directory")
        #expect(provider.snapshot.errors == 2)
    }

    @Test("A source's error details and retry delay reach the log line and the refresher")
    func errorDetails() async {
        let source = ScriptedSource()
        let log = LogRecorder()
        let provider = ModeProvider(source: source, logger: log.logger)
        let throttled = ModeSourceError("SSM GetParameter /p: ThrottlingException: Rate exceeded",
                                        details: ["aws_error": "ThrottlingException", "http_status": "400", "parameter": "/p"],
                                        retryAfter: .seconds(10))
        source.answer(.failure(throttled))
        #expect(await provider.refresh() == throttled)
        let line = log.events("mode_source_error").first?.metadata
        #expect(line?["aws_error"] == "ThrottlingException")
        #expect(line?["http_status"] == "400")
        #expect(line?["parameter"] == "/p")
        #expect(line?["retry_after"] == "10.0 seconds")
        #expect(line?["reason"] == "SSM GetParameter /p: ThrottlingException: Rate exceeded")
    }

    @Test("Each real change is logged once, with old, new and source")
    func changeLogged() async {
        let source = ScriptedSource()
        let log = LogRecorder()
        let provider = ModeProvider(source: source, logger: log.logger)
        for answer in ["defer", "defer", " ACCEPT\n", "accept", "greylist"] {
            source.answer(.success(answer))
            await provider.refresh()
        }
        let changes = log.events("mode_changed")
        #expect(changes.map { $0.metadata["new"] } == ["accept", "greylist"])
        #expect(changes.first?.metadata["old"] == "defer")
        #expect(changes.first?.metadata["source"] == "scripted")
    }

    @Test("Metrics: a gauge per mode, whether one is known, reads and failures by source kind")
    func metrics() async throws {
        let source = ScriptedSource()
        let recorded = TestMetrics()
        let provider = ModeProvider(source: source, logger: LogRecorder().logger, metricsFactory: recorded)
        func gauge(_ mode: Mode) throws -> Double? {
            try recorded.expectGauge("sinkhole_mode", [("mode", mode.rawValue)]).lastValue
        }
        #expect(try gauge(.defer) == 1)
        #expect(try recorded.expectGauge("sinkhole_mode_known").lastValue == 0)
        source.answer(.success("greylist"))
        await provider.refresh()
        source.answer(.failure(ModeSourceError("timed out")))
        await provider.refresh()
        #expect(try gauge(.greylist) == 1)
        #expect(try gauge(.defer) == 0)
        #expect(try gauge(.accept) == 0)
        #expect(try recorded.expectGauge("sinkhole_mode_known").lastValue == 1)
        #expect(try recorded.expectCounter("sinkhole_mode_refreshes_total", [("source", "scripted")]).totalValue == 2)
        #expect(try recorded.expectCounter("sinkhole_mode_refresh_errors_total", [("source", "scripted")]).totalValue == 1)
    }

    @Test("The cache is stale only a TTL after the last read")
    func ttl() async {
        let source = ScriptedSource()
        let clock = ManualClock()
        let provider = ModeProvider(source: source, ttl: .seconds(30), logger: LogRecorder().logger, now: { clock.now })
        #expect(provider.isStale(at: clock.now))
        source.answer(.success("accept"))
        await provider.refreshIfStale()
        #expect(source.reads == 1)
        clock.advance(by: .seconds(29))
        await provider.refreshIfStale()
        #expect(source.reads == 1, "within the TTL the source is not read")
        clock.advance(by: .seconds(1))
        source.answer(.success("bounce"))
        await provider.refreshIfStale()
        #expect(source.reads == 2)
        #expect(provider.current == .bounce)
    }

    @Test("Readers never wait for a read, and concurrent refreshes share one read")
    func noStampede() async throws {
        let source = ScriptedSource()
        let provider = ModeProvider(source: source, logger: LogRecorder().logger)
        source.answer(.success("accept"))
        await provider.refresh()
        source.answer(.success("bounce"))
        source.hold()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await provider.refresh() }
            while !source.isWaiting { await Task.yield() }
            // A read is in flight: a thousand sessions read the old value at once, and
            // a thousand more refreshes join the read under way instead of starting their own.
            for _ in 0..<1000 { #expect(provider.current == .accept) }
            for _ in 0..<1000 { group.addTask { await provider.refresh() } }
            // Released only once all of them wait: a joiner that had not started yet
            // when the read ended would start a read of its own (one run in many did).
            let deadline = ContinuousClock.now + .seconds(30)
            while provider.waitingRefreshes < 1000 && ContinuousClock.now < deadline { await Task.yield() }
            #expect(provider.waitingRefreshes == 1000, "the refreshes did not all join the read in flight within 30 s")
            source.release()
        }
        #expect(source.reads == 2)
        #expect(provider.current == .bounce)
    }
}

@Suite("Mode sources")
struct ModeSourceTests {
    @Test("A file source reads the file each time")
    func file() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-mode-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "accept\n".write(toFile: path, atomically: true, encoding: .utf8)
        let source = FileModeSource(path: path)
        #expect(try await source.fetch() == "accept\n")
        try "bounce".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await source.fetch() == "bounce")
        try FileManager.default.removeItem(atPath: path)
        await #expect(throws: ModeSourceError("cannot read \(path): No such file or directory")) {
            try await source.fetch()
        }
    }

    @Test("A file source refuses a huge file")
    func hugeFile() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-mode-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try String(repeating: "x", count: 10_000).write(toFile: path, atomically: true, encoding: .utf8)
        await #expect(throws: ModeSourceError.self) { try await FileModeSource(path: path).fetch() }
    }

    @Test("Environment and static sources")
    func environment() async throws {
        #expect(try await EnvironmentModeSource(variable: "SINKHOLE_MODE", environment: ["SINKHOLE_MODE": "bounce"]).fetch()
            == "bounce")
        await #expect(throws: ModeSourceError("SINKHOLE_MODE is not set")) {
            try await EnvironmentModeSource(variable: "SINKHOLE_MODE", environment: [:]).fetch()
        }
        #expect(try await StaticModeSource("greylist").fetch() == "greylist")
        #expect(!StaticModeSource("x").changes && FileModeSource(path: "/x").changes)
    }
}
