import MetricsTestKit
import NIOCore
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

@Suite("Client address text")
struct AddressTextTests {
    @Test("IPv4 from its bytes, as inet_ntop writes it; IPv6 through NIO", arguments: [
        "0.0.0.0", "127.0.0.1", "10.0.200.9", "192.168.1.100", "255.255.255.255", "1.22.133.4",
        "::1", "2001:db8::17", "::ffff:192.0.2.1",
    ])
    func matchesNIO(text: String) throws {
        let address = try SocketAddress(ipAddress: text, port: 25)
        #expect(address.ipText == address.ipAddress)
    }
}

@Suite("Metrics tally")
struct TallyTests {
    @Test("A reset keeps the keys at 0: the tally is empty, and counts start again from 0")
    func resetKeepsKeys() {
        var tally = ServerMetrics.Tally()
        #expect(tally.isEmpty)
        tally.countReply(code: 250, command: "MAIL")
        tally.countReply(code: 250, command: "RCPT")
        tally.countReply(code: 250, command: "RCPT")
        #expect(!tally.isEmpty)
        #expect(tally.replies.map { "\($0.key.code) \($0.key.command) \($0.count)" } == ["250 MAIL 1", "250 RCPT 2"])
        tally.reset()
        #expect(tally.isEmpty)
        #expect(tally.replies.allSatisfy { $0.count == 0 })
        tally.countReply(code: 250, command: "RCPT")
        tally.countReply(code: 221, command: "QUIT")
        #expect(tally.replies.filter { $0.count > 0 }.map { "\($0.key.code) \($0.key.command) \($0.count)" }
                == ["250 RCPT 1", "221 QUIT 1"])
    }

    @Test("A flush finds each key's counter once; later flushes increment it directly, and new keys get theirs")
    func countersStay() throws {
        let recorded = TestMetrics()
        let metrics = ServerMetrics(factory: recorded)
        func total(_ command: String) throws -> Int64 {
            try recorded.expectCounter("sinkhole_replies_total", [("code", "250"), ("command", command)]).totalValue
        }
        var tally = ServerMetrics.Tally()
        tally.countReply(code: 250, command: "MAIL")
        #expect(tally.firstUnresolved == 0)
        metrics.add(&tally)
        #expect(tally.firstUnresolved == 1)
        tally.reset()
        tally.countReply(code: 250, command: "MAIL")
        tally.countReply(code: 250, command: "RCPT")
        #expect(tally.firstUnresolved == 1)
        metrics.add(&tally)
        #expect(tally.firstUnresolved == 2)
        tally.reset()
        metrics.add(&tally)  // every count 0: nothing more
        #expect(try total("MAIL") == 2)
        #expect(try total("RCPT") == 1)
        // Another session's tally finds the same counters.
        var other = ServerMetrics.Tally()
        other.countReply(code: 250, command: "MAIL")
        metrics.add(&other)
        #expect(try total("MAIL") == 3)
    }

    @Test("Past 32 keys a reset lets them go")
    func manyKeys() {
        var tally = ServerMetrics.Tally()
        for code in 400..<433 { tally.countReply(code: code, command: "RCPT") }
        tally.reset()
        #expect(tally.replies.isEmpty && tally.isEmpty)
    }
}
