import Testing

@testable import SinkholeServer

@Suite("Queue ids")
struct QueueIDTests {
    @Test("8 hex digits of prefix, then the counter in at least 8, upper-case")
    func format() {
        #expect(QueueID.format(prefix: 0xAB, number: 1) == "000000AB00000001")
        #expect(QueueID.format(prefix: 0xDEAD_BEEF, number: 0xFFFF_FFFF) == "DEADBEEFFFFFFFFF")
        #expect(QueueID.format(prefix: 0, number: 0x1_0000_0000) == "00000000100000000")
        #expect(QueueID.format(prefix: 0x0123_4567, number: .max) == "01234567FFFFFFFFFFFFFFFF")
    }

    @Test("Each id is new")
    func unique() {
        let ids = (0..<1000).map { _ in QueueID.next() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.utf8.count == 16 && $0.utf8.allSatisfy { (48...57).contains($0) || (65...70).contains($0) } })
    }
}
