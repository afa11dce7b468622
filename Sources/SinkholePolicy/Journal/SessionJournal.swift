#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// One line of a session's transcript.
public struct JournalEntry: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// A command line from the client (message content is never kept).
        case client = 1
        /// A reply, every line of it.
        case server = 2
        /// Why the reply before it was chosen: `rule r3`, `trigger rcpt`, `mode defer`.
        case decision = 3
        /// Something the shell did: `message 1234 bytes`, `closed: quit`.
        case note = 4
    }

    public var kind: Kind
    /// Milliseconds since the connection was accepted.
    public var at: UInt32
    public var text: String
}

/// A transcript being written, as compact bytes: one allocation that grows,
/// no string per line. Kind (1 byte), milliseconds (4), length (2), text.
public struct JournalWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Lines not kept once the cap was reached.
    public private(set) var dropped = 0
    // The count and the cap in 32 bits each: 24 bytes in all, held by every session
    // handler (the cap past two billion lines is two billion).
    private var lineCount: Int32 = 0
    private let maxLineCount: Int32
    public var lines: Int { Int(lineCount) }
    public var maxLines: Int { Int(maxLineCount) }

    public init(maxLines: Int) {
        maxLineCount = Int32(clamping: max(0, maxLines))
    }

    /// Room for the greeting alone while a connection is idle, and for a session's worth
    /// once it talks: at the second line (`lines` counts the line being added), which
    /// also copies a first line shared by ``appendFirst(_:at:_:sharing:)`` once.
    @inline(__always)
    private mutating func makeRoom(_ needed: Int) {
        let wanted = bytes.count + needed
        guard wanted > bytes.capacity || lineCount == 2 else { return }
        bytes.reserveCapacity(bytes.isEmpty ? max(wanted, 64) : max(wanted, 512, bytes.capacity * 2))
    }

    /// A line's header: kind (1 byte), milliseconds (4), length (2), little-endian.
    @inline(__always)
    private static func header(_ kind: JournalEntry.Kind, _ ms: UInt32, _ length: Int)
        -> (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        (kind.rawValue, UInt8(truncatingIfNeeded: ms), UInt8(truncatingIfNeeded: ms >> 8),
         UInt8(truncatingIfNeeded: ms >> 16), UInt8(truncatingIfNeeded: ms >> 24),
         UInt8(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 8))
    }

    /// Appends one line: its header and a copy of its bytes, no other allocation.
    public mutating func append(_ kind: JournalEntry.Kind, at milliseconds: Int64, _ text: UnsafeBufferPointer<UInt8>) {
        guard lineCount < maxLineCount else { dropped += 1; return }
        lineCount += 1
        let ms = UInt32(clamping: max(0, milliseconds))
        let length = min(text.count, Int(UInt16.max))
        let header = Self.header(kind, ms, length)
        makeRoom(7 + length)
        withUnsafeBytes(of: header) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[..<length]))
    }

    /// Appends the transcript's first line, shared: where `entry` holds exactly the bytes
    /// this line makes, the transcript takes that array (a reference, not a copy);
    /// otherwise the line is appended as usual and `entry` becomes the transcript so far.
    /// Sessions greeted alike then hold one copy of the greeting between them until they
    /// talk (the next line copies it), so 10,000 idle connections hold no 10,000 copies.
    public mutating func appendFirst(_ kind: JournalEntry.Kind, at milliseconds: Int64, _ text: UnsafeBufferPointer<UInt8>,
                                     sharing entry: inout [UInt8]) {
        guard lineCount == 0, bytes.isEmpty, maxLineCount > 0 else { return append(kind, at: milliseconds, text) }
        let ms = UInt32(clamping: max(0, milliseconds))
        let length = min(text.count, Int(UInt16.max))
        let header = Self.header(kind, ms, length)
        let same = entry.count == 7 + length && entry.withUnsafeBytes { kept in
            withUnsafeBytes(of: header) { memcmp(kept.baseAddress!, $0.baseAddress!, 7) == 0 }
                && (length == 0 || memcmp(kept.baseAddress! + 7, text.baseAddress!, length) == 0)
        }
        if same {
            bytes = entry
            lineCount = 1
        } else {
            append(kind, at: milliseconds, text)
            entry = bytes
        }
    }

    /// A line of up to three pieces joined by spaces (`rule r3`, `mode`,
    /// `trigger rcpt (disconnect)`), without building the string first.
    public mutating func append(_ kind: JournalEntry.Kind, at milliseconds: Int64, _ first: String, _ second: String?,
                                _ third: String?) {
        guard lineCount < maxLineCount else { dropped += 1; return }
        var first = first, second = second ?? "", third = third ?? ""
        let length = first.utf8.count + (second.isEmpty ? 0 : second.utf8.count + 1) + (third.isEmpty ? 0 : third.utf8.count + 1)
        guard length <= Int(UInt16.max) else { return }
        lineCount += 1
        let ms = UInt32(clamping: max(0, milliseconds))
        let header = Self.header(kind, ms, length)
        makeRoom(7 + length)
        withUnsafeBytes(of: header) { bytes.append(contentsOf: $0) }
        first.withUTF8 { bytes.append(contentsOf: $0) }
        if !second.isEmpty { bytes.append(32); second.withUTF8 { bytes.append(contentsOf: $0) } }
        if !third.isEmpty { bytes.append(32); third.withUTF8 { bytes.append(contentsOf: $0) } }
    }

    /// Lines the writer's owner did not hand over once the cap was reached.
    public mutating func countDropped(_ n: Int) { dropped += n }

    public mutating func append(_ kind: JournalEntry.Kind, at milliseconds: Int64, _ text: String) {
        var text = text
        text.withUTF8 { append(kind, at: milliseconds, $0) }
    }

    static func decode(_ bytes: [UInt8]) -> [JournalEntry] {
        var out: [JournalEntry] = []
        var index = 0
        while index + 7 <= bytes.count {
            let kind = JournalEntry.Kind(rawValue: bytes[index]) ?? .note
            let ms = UInt32(bytes[index + 1]) | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3]) << 16
                | UInt32(bytes[index + 4]) << 24
            let length = Int(bytes[index + 5]) | Int(bytes[index + 6]) << 8
            let end = min(bytes.count, index + 7 + length)
            out.append(JournalEntry(kind: kind, at: ms, text: String(decoding: bytes[(index + 7)..<end], as: UTF8.self)))
            index = end
        }
        return out
    }
}

/// One finished session, as the journal keeps it.
public struct JournalRecord: Sendable {
    public var id: UInt64 = 0
    public var clientIP: String
    public var clientPort: Int
    public var listener: String
    public var mode: Mode
    /// Seconds since 1970.
    public var started: Double
    public var ended: Double
    /// How it ended, as the connection log line says (`quit`, `idle_timeout`, …).
    public var outcome: String
    public var transcript: [UInt8]
    public var dropped: Int

    public init(clientIP: String, clientPort: Int, listener: String, mode: Mode, started: Double, ended: Double,
                outcome: String, transcript: JournalWriter) {
        self.clientIP = clientIP
        self.clientPort = clientPort
        self.listener = listener
        self.mode = mode
        self.started = started
        self.ended = ended
        self.outcome = outcome
        self.transcript = transcript.bytes
        self.dropped = transcript.dropped
    }

    public var entries: [JournalEntry] { JournalWriter.decode(transcript) }
}

/// The last sessions, bounded (`--journal-max-sessions`): the oldest is
/// forgotten first.
public final class SessionJournal: Sendable {
    public let maxSessions: Int
    public let maxLines: Int

    /// A ring: `records[(start + i) % maxSessions]` is the i-th oldest.
    private struct State: Sendable {
        var records: [JournalRecord] = []
        var start = 0
        var next: UInt64 = 1
        var forgotten = 0

        func ordered() -> [JournalRecord] { Array(records[start...] + records[..<start]) }
    }

    private let state = Mutex(State())

    private let events: EventHub?

    public init(maxSessions: Int = 1000, maxLines: Int = 200, events: EventHub? = nil) {
        self.maxSessions = max(1, maxSessions)
        self.maxLines = max(1, maxLines)
        self.events = events
    }

    @discardableResult
    public func add(_ record: JournalRecord) -> UInt64 {
        var record = record
        // The one being replaced is freed outside the lock.
        var replaced: JournalRecord?
        let id = state.withLock { state in
            record.id = state.next
            state.next += 1
            if state.records.count < maxSessions {
                state.records.append(record)
            } else {
                swap(&state.records[state.start], &record)
                replaced = record
                state.start = (state.start + 1) % maxSessions
                state.forgotten += 1
            }
            return state.next - 1
        }
        _ = replaced
        events?.publish(ServerEvent(.sessionClosed, [
            ("session", String(id)), ("client", "\(record.clientIP):\(record.clientPort)"), ("outcome", record.outcome),
            ("listener", record.listener),
        ]))
        return id
    }

    /// Oldest first.
    public var all: [JournalRecord] { state.withLock { $0.ordered() } }

    public func record(id: UInt64) -> JournalRecord? {
        state.withLock { state in state.records.first { $0.id == id } }
    }

    public func clear() {
        state.withLock { state in
            state.records = []
            state.start = 0
        }
    }
}
