import SMTPProtocol
import Synchronization
import Testing
@testable import SinkholePolicy

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let base = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)
    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
    var now: ContinuousClock.Instant { base.advanced(by: offset.withLock { $0 }) }
}

@Suite("Modes")
struct ModeTests {
    @Test("Names parse case-insensitively, trimmed", arguments: [
        ("defer", Mode.defer), ("DEFER", .defer), ("  Accept-Log \n", .acceptLog), ("bounce\r\n", .bounce),
        ("GreyList", .greylist), ("accept", .accept),
    ])
    func parse(text: String, mode: Mode) {
        #expect(Mode(parsing: text) == mode)
    }

    @Test("Unknown names are refused", arguments: ["", "acceptlog", "accept log", "deferred", "greylisting"])
    func unknown(text: String) {
        #expect(Mode(parsing: text) == nil)
    }

    @Test("Reply overrides are checked against their mode")
    func replyValidation() {
        #expect(ModeReplies().validationError() == nil)
        #expect(ModeReplies(deferReply: .bounceDefault).validationError() != nil)
        #expect(ModeReplies(bounceReply: .deferDefault).validationError() != nil)
        #expect(ModeReplies(acceptReply: .bounceDefault).validationError() != nil)
        #expect(ModeReplies(greylistReply: .recipientOK).validationError() != nil)
    }
}

@Suite("Session policy")
struct SessionPolicyTests {
    let rcpt = SMTPEvent.rcpt(.postmaster)
    let snapshot = SessionSnapshot(clientIP: "192.0.2.7")

    func policy(_ mode: Mode, _ configuration: PolicyConfiguration = PolicyConfiguration()) -> SessionPolicy {
        SessionPolicy(mode: mode, configuration: configuration)
    }

    @Test("defer → 421 4.3.2 at RCPT")
    func deferMode() {
        var p = policy(.defer)
        #expect(p.decide(rcpt, snapshot) == .reply(.deferDefault))
        #expect(p.decide(.connect, snapshot) == .proceed)
    }

    @Test("bounce → 550 5.1.1 at RCPT")
    func bounceMode() {
        var p = policy(.bounce)
        #expect(p.decide(rcpt, snapshot) == .reply(.bounceDefault))
    }

    @Test("accept and accept-log proceed everywhere")
    func acceptModes() {
        for mode in [Mode.accept, .acceptLog] {
            var p = policy(mode)
            #expect(p.decide(rcpt, snapshot) == .proceed)
            #expect(p.decide(.data, snapshot) == .proceed)
            #expect(p.decide(.endOfData(size: 10, message: nil), snapshot) == .proceed)
        }
        #expect(Mode.acceptLog.logsMessages && !Mode.accept.logsMessages)
    }

    @Test("Overridden replies are used")
    func overrides() throws {
        let custom = try #require(SMTPReply(operatorText: "451 4.7.1 Try later"))
        var p = policy(.defer, PolicyConfiguration(replies: ModeReplies(deferReply: custom)))
        #expect(p.decide(rcpt, snapshot) == .reply(custom))
    }

    @Test("greylist: first attempt deferred, a retry within the window accepted")
    func greylist() {
        let clock = ManualClock()
        let configuration = PolicyConfiguration(greylist: GreylistTable(window: .seconds(60)), now: { clock.now })
        var first = policy(.greylist, configuration)
        #expect(first.decide(rcpt, snapshot) == .reply(.greylistDefault))
        // The same session stays greylisted for every recipient.
        #expect(first.decide(rcpt, snapshot) == .reply(.greylistDefault))
        clock.advance(by: .seconds(30))
        var retry = policy(.greylist, configuration)
        #expect(retry.decide(rcpt, snapshot) == .proceed)
        // Another client is still unseen.
        var other = policy(.greylist, configuration)
        #expect(other.decide(rcpt, SessionSnapshot(clientIP: "192.0.2.8")) == .reply(.greylistDefault))
    }
}

@Suite("Greylist table")
struct GreylistTableTests {
    @Test("An entry expires a window after the client was last seen")
    func expiry() {
        let clock = ManualClock()
        let table = GreylistTable(window: .seconds(60), capacity: 10)
        #expect(!table.admit("a", now: clock.now))
        clock.advance(by: .seconds(59))
        #expect(table.admit("a", now: clock.now))
        clock.advance(by: .seconds(59))
        #expect(table.admit("a", now: clock.now), "the retry renewed the entry")
        clock.advance(by: .seconds(61))
        #expect(!table.admit("a", now: clock.now), "expired: deferred again")
        clock.advance(by: .seconds(1))
        #expect(table.admit("a", now: clock.now))
    }

    @Test("The table is bounded: least recently seen evicted first")
    func eviction() {
        let clock = ManualClock()
        let table = GreylistTable(window: .seconds(600), capacity: 3)
        for ip in ["a", "b", "c"] { #expect(!table.admit(ip, now: clock.now)) }
        #expect(table.admit("a", now: clock.now))  // a is now the most recent
        #expect(!table.admit("d", now: clock.now))  // evicts b
        #expect(table.statistics == GreylistTable.Statistics(entries: 3, evictions: 1))
        #expect(table.admit("a", now: clock.now))
        #expect(table.admit("c", now: clock.now))
        #expect(!table.admit("b", now: clock.now), "b was evicted and is unseen again")
    }

    @Test("A flood of addresses never grows the table past its capacity")
    func flood() {
        let clock = ManualClock()
        let table = GreylistTable(window: .seconds(600), capacity: 1000)
        for index in 0..<50_000 { _ = table.admit("10.0.\(index / 256).\(index % 256)", now: clock.now) }
        #expect(table.statistics.entries == 1000)
        #expect(table.statistics.evictions == 49_000)
    }
}

@Suite("LRU table")
struct LRUTableTests {
    @Test("Capacity one")
    func capacityOne() {
        var table = LRUTable<Int, String>(capacity: 1)
        #expect(table.set("a", for: 1) == nil)
        #expect(table.set("b", for: 2) == 1)
        #expect(table.value(for: 1) == nil)
        #expect(table.value(for: 2) == "b")
        #expect(table.count == 1)
    }

    @Test("Reading makes an entry the most recent")
    func recency() {
        var table = LRUTable<Int, Int>(capacity: 3)
        for key in 1...3 { table.set(key, for: key) }
        _ = table.value(for: 1)
        #expect(table.set(4, for: 4) == 2)
        #expect(table.set(5, for: 5) == 3)
        #expect(table.set(6, for: 6) == 1)
        #expect(table.set(60, for: 6) == nil, "updating a key evicts nothing")
        #expect(table.value(for: 6) == 60)
    }
}
