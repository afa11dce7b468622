@testable import SinkholePolicy
import Testing

@Suite("Journal transcripts")
struct JournalWriterTests {
    private static func entries(_ writer: JournalWriter) -> [JournalEntry] {
        JournalRecord(clientIP: "", clientPort: 0, listener: "", mode: .accept, started: 0, ended: 0, outcome: "",
                      transcript: writer).entries
    }

    private static func first(_ writer: inout JournalWriter, _ text: String, at ms: Int64 = 0, sharing entry: inout [UInt8]) {
        var text = text
        text.withUTF8 { writer.appendFirst(.server, at: ms, $0, sharing: &entry) }
    }

    private static func storage(_ bytes: [UInt8]) -> UnsafeRawPointer? {
        bytes.withUnsafeBytes { $0.baseAddress }
    }

    @Test("Sessions greeted alike share one copy of the greeting until they talk")
    func firstLineShared() {
        var entry: [UInt8] = []
        var a = JournalWriter(maxLines: 10), b = JournalWriter(maxLines: 10)
        Self.first(&a, "220 h ESMTP sinkhole", sharing: &entry)
        Self.first(&b, "220 h ESMTP sinkhole", sharing: &entry)
        #expect(Self.storage(a.bytes) == Self.storage(b.bytes))
        #expect(Self.storage(entry) == Self.storage(b.bytes))
        #expect(a.lines == 1 && b.lines == 1)

        // Talking copies: neither transcript sees the other's lines.
        b.append(.client, at: 5, "EHLO x")
        a.append(.client, at: 7, "QUIT")
        #expect(Self.storage(a.bytes) != Self.storage(b.bytes))
        #expect(Self.entries(a) == [JournalEntry(kind: .server, at: 0, text: "220 h ESMTP sinkhole"),
                                    JournalEntry(kind: .client, at: 7, text: "QUIT")])
        #expect(Self.entries(b) == [JournalEntry(kind: .server, at: 0, text: "220 h ESMTP sinkhole"),
                                    JournalEntry(kind: .client, at: 5, text: "EHLO x")])
        #expect(b.bytes.capacity >= 512, "a talking session gets a session's worth of room at its second line")
        // The shared line is what it was.
        var c = JournalWriter(maxLines: 10)
        c.append(.server, at: 0, "220 h ESMTP sinkhole")
        #expect(entry == c.bytes)
    }

    @Test("A different first line, or another time, is not shared: it becomes the one shared next")
    func differentFirstLine() {
        var entry: [UInt8] = []
        var a = JournalWriter(maxLines: 10), b = JournalWriter(maxLines: 10), c = JournalWriter(maxLines: 10)
        var d = JournalWriter(maxLines: 10)
        Self.first(&a, "220 h ESMTP sinkhole", sharing: &entry)
        Self.first(&b, "554 5.7.1 go away", sharing: &entry)
        Self.first(&c, "554 5.7.1 go away", at: 3, sharing: &entry)
        Self.first(&d, "554 5.7.1 go away", at: 3, sharing: &entry)
        #expect(Self.entries(a) == [JournalEntry(kind: .server, at: 0, text: "220 h ESMTP sinkhole")])
        #expect(Self.entries(b) == [JournalEntry(kind: .server, at: 0, text: "554 5.7.1 go away")])
        #expect(Self.entries(c) == [JournalEntry(kind: .server, at: 3, text: "554 5.7.1 go away")])
        #expect(Self.storage(a.bytes) != Self.storage(b.bytes) && Self.storage(b.bytes) != Self.storage(c.bytes))
        #expect(Self.storage(c.bytes) == Self.storage(d.bytes))
    }

    @Test("Only a transcript's first line is shared, and the line cap still holds")
    func onlyTheFirst() {
        var entry: [UInt8] = []
        var a = JournalWriter(maxLines: 10)
        Self.first(&a, "220 h", sharing: &entry)
        Self.first(&a, "250 OK", sharing: &entry)  // not first: appended
        #expect(Self.entries(a).map(\.text) == ["220 h", "250 OK"])
        var none = JournalWriter(maxLines: 0)
        Self.first(&none, "220 h", sharing: &entry)
        #expect(none.lines == 0 && none.bytes.isEmpty && none.dropped == 1)
    }
}
