import Logging
import MetricsTestKit
import ModeSources
import NIOCore
import NIOEmbedded
import SMTPProtocol
import SinkholeConfig
import SinkholePolicy
import Synchronization
import Testing
@testable import SinkholeServer

/// Collects log events so tests can assert on them.
final class LogRecorder: Sendable {
    struct Entry: Sendable { var event: String; var metadata: Logger.Metadata }
    private let entries = Mutex<[Entry]>([])
    func events(_ name: String) -> [Entry] { entries.withLock { $0 }.filter { $0.event == name } }
    var logger: Logger { Logger(label: "test") { _ in Handler(recorder: self) } }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.entries.withLock { $0.append(Entry(event: event.message.description, metadata: merged)) }
        }
    }
}

/// A session handler on an EmbeddedChannel: write what the client says, read what sinkhole answers.
final class SessionHarness {
    let channel = EmbeddedChannel()
    let log = LogRecorder()
    let clock: SessionClock

    init(mode: Mode, maxMessageSize: Int = 1024, headerLogLimit: Int = 64, policy: PolicyConfiguration = PolicyConfiguration(),
         timeLimits: SMTPSessionHandler.TimeLimits = .init(), metrics: ServerMetrics? = nil) throws {
        clock = SessionClock(eventLoop: channel.embeddedEventLoop, tick: .milliseconds(100))
        let handler = SMTPSessionHandler(
            shared: .init(lineLengthLimit: 100, headerLogLimit: headerLogLimit, timeLimits: timeLimits, metrics: metrics,
                          logger: log.logger),
            configuration: SessionConfiguration(hostname: "sinkhole.test", maxRecipients: 5, maxMessageSize: maxMessageSize),
            policy: SessionPolicy(mode: mode, configuration: policy),
            remote: try SocketAddress(ipAddress: "192.0.2.1", port: 4321),
            clock: clock
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 4321)).wait()
    }

    /// Moves the embedded loop's clock on, running what falls due.
    func advance(_ amount: TimeAmount) {
        channel.embeddedEventLoop.advanceTime(by: amount)
    }

    /// Sends `text` as one TCP segment and returns everything written back.
    func send(_ text: String) throws -> String {
        try channel.writeInbound(ByteBuffer(string: text))
        return try output()
    }

    /// Runs what the embedded loop has pending (the close queued behind the
    /// last reply) and says whether the channel is closed. Never blocks.
    func isClosed() -> Bool {
        channel.embeddedEventLoop.run()
        return !channel.isActive
    }

    func output() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }
}

@Suite("Session handler")
struct SessionHandlerTests {
    @Test("Metrics: connections, replies by code and command, messages by outcome, bytes, duration")
    func metrics() throws {
        let recorded = TestMetrics()
        let session = try SessionHarness(mode: .accept, maxMessageSize: 100, metrics: ServerMetrics(factory: recorded))
        #expect(try recorded.expectMeter("sinkhole_connections_active").lastValue == 1)
        let script = "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
        _ = try session.send(script + "Subject: hi\r\n\r\nbody\r\n.\r\n")
        // Flushed after each message, before the session ends.
        #expect(try recorded.expectCounter("sinkhole_messages_total", [("outcome", "accepted")]).totalValue == 1)
        _ = try session.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
            + String(repeating: "x", count: 200) + "\r\n.\r\nNOOP\r\nBOGUS\r\nQUIT\r\n")
        #expect(session.isClosed())
        #expect(try recorded.expectMeter("sinkhole_connections_active").lastValue == 0)
        #expect(try recorded.expectCounter("sinkhole_connections_total").totalValue == 1)
        #expect(try recorded.expectCounter("sinkhole_messages_total", [("outcome", "too_big")]).totalValue == 1)
        func replies(_ code: Int, _ command: String) throws -> Int64 {
            try recorded.expectCounter("sinkhole_replies_total", [("code", "\(code)"), ("command", command)]).totalValue
        }
        #expect(try replies(220, "connect") == 1)
        #expect(try replies(250, "EHLO") == 1)
        #expect(try replies(250, "RCPT") == 2)
        #expect(try replies(354, "DATA") == 2)
        #expect(try replies(250, "end_of_data") == 1)
        #expect(try replies(552, "end_of_data") == 1)
        #expect(try replies(500, "unrecognized") == 1)
        #expect(try replies(221, "QUIT") == 1)
        let bytes = try recorded.expectCounter("sinkhole_received_bytes_total").totalValue
        #expect(bytes > 200 && bytes < 400)
        #expect(try recorded.expectTimer(ServerMetrics.sessionDurationLabel).values.count == 1)
    }

    @Test("Greeting, then EHLO with the extensions")
    func greeting() throws {
        let session = try SessionHarness(mode: .accept)
        #expect(try session.output() == "220 sinkhole.test ESMTP sinkhole\r\n")
        #expect(try session.send("EHLO client\r\n") == """
            250-sinkhole.test\r
            250-PIPELINING\r
            250-SIZE 1024\r
            250-8BITMIME\r
            250-ENHANCEDSTATUSCODES\r
            250-SMTPUTF8\r
            250-DSN\r
            250-CHUNKING\r
            250 BINARYMIME\r

            """)
    }

    @Test("A pipelined batch is answered in order, and content follows the 354")
    func pipelining() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.send("EHLO c\r\n")
        #expect(try session.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@h.i>\r\nDATA\r\n")
            == "250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
        let reply = try session.send("Subject: x\r\n\r\nNOOP\r\n.\r\nMAIL FROM:<>\r\nQUIT\r\n")
        #expect(reply.hasPrefix("250 2.0.0 OK queued as "))
        #expect(reply.hasSuffix("\r\n250 2.1.0 OK\r\n221 2.0.0 Bye\r\n"))
        #expect(session.isClosed())
    }

    @Test("defer: RCPT → 421 and the connection closes; one connection log line")
    func deferMode() throws {
        let session = try SessionHarness(mode: .defer)
        _ = try session.send("HELO c\r\nMAIL FROM:<>\r\n")
        #expect(try session.send("RCPT TO:<x@sinkhole.test>\r\nRCPT TO:<y@sinkhole.test>\r\n")
            == "421 4.3.2 Service temporarily unavailable\r\n")
        #expect(session.isClosed())
        let lines = session.log.events("connection")
        #expect(lines.count == 1)
        #expect(lines.first?.metadata["outcome"] == "refused")
        #expect(lines.first?.metadata["decided_by"] == "mode")
        #expect(lines.first?.metadata["mode"] == "defer")
    }

    @Test("bounce: 550, then 554 at DATA, and the session continues")
    func bounce() throws {
        let session = try SessionHarness(mode: .bounce)
        _ = try session.send("HELO c\r\nMAIL FROM:<>\r\n")
        #expect(try session.send("RCPT TO:<x@y.z>\r\nDATA\r\nNOOP\r\n")
            == "550 5.1.1 User unknown\r\n554 5.5.1 No valid recipients\r\n250 2.0.0 OK\r\n")
        #expect(session.channel.isActive)
    }

    @Test("accept-log: one message line with envelope and headers, never the body")
    func acceptLog() throws {
        let session = try SessionHarness(mode: .acceptLog, headerLogLimit: 1024)
        _ = try session.send("EHLO client.test\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
        let reply = try session.send("Subject: hello\r\nX-Test: 1\r\n\r\nSECRET-BODY-MARKER\r\n.\r\n")
        let message = try #require(session.log.events("message").first)
        #expect(reply == "250 2.0.0 OK queued as \(message.metadata["queue_id"]?.description ?? "?")\r\n")
        #expect(message.metadata["headers"] == "Subject: hello\r\nX-Test: 1\r\n")
        #expect(message.metadata["mail_from"] == "<a@b.c>")
        #expect(message.metadata["rcpt"] == .array(["<d@e.f>"]))
        #expect(message.metadata["helo"] == "client.test")
        #expect(message.metadata["size"]?.description == "\("Subject: hello\r\nX-Test: 1\r\n\r\nSECRET-BODY-MARKER\r\n".utf8.count)")
        #expect(!"\(message.metadata)".contains("SECRET-BODY-MARKER"))
    }

    @Test("accept-log: the header block is capped")
    func headerCap() throws {
        let session = try SessionHarness(mode: .acceptLog, maxMessageSize: 100_000, headerLogLimit: 64)
        _ = try session.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
        _ = try session.send("X-Long: " + String(repeating: "h", count: 500) + "\r\n\r\nbody\r\n.\r\n")
        let message = try #require(session.log.events("message").first)
        #expect(message.metadata["headers"]?.description.utf8.count == 64)
        #expect(message.metadata["headers_truncated"] == "true")
    }

    @Test("A message over the limit → 552 after the dot; the session stays in sync")
    func tooBig() throws {
        let session = try SessionHarness(mode: .accept, maxMessageSize: 10)
        _ = try session.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
        #expect(try session.send(String(repeating: "z", count: 50) + "\r\n") == "")
        #expect(try session.send(".\r\nMAIL FROM:<>\r\n")
            == "552 5.3.4 Message size exceeds fixed limit\r\n250 2.1.0 OK\r\n")
        #expect(session.log.events("limit_exceeded").first?.metadata["limit"] == "message_size")
    }

    @Test("An over-long line → 500 5.5.6, then the next command is answered")
    func longLine() throws {
        let session = try SessionHarness(mode: .accept)
        #expect(try session.send("NOOP " + String(repeating: "x", count: 300) + "\r\nNOOP\r\n")
            == "220 sinkhole.test ESMTP sinkhole\r\n500 5.5.6 Line too long\r\n250 2.0.0 OK\r\n")
    }

    @Test("Garbage bytes get 500 5.5.2, and the session goes on")
    func garbage() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.output()
        var bytes = ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0xFF, 0xFE])
        bytes.writeString("\r\nXYZZY plugh\r\nNOOP\r\n")
        try session.channel.writeInbound(bytes)
        #expect(try session.output()
            == "500 5.5.2 Invalid characters in command\r\n500 5.5.2 Command not recognized\r\n250 2.0.0 OK\r\n")
    }

    @Test("An HTTP request gets 554 5.7.0 and the connection is closed", arguments: [
        "GET / HTTP/1.1", "POST /api HTTP/1.0", "CONNECT mail.example.com:25 HTTP/1.1", "HEAD /x HTTP/2",
    ])
    func http(requestLine: String) throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.output()
        #expect(try session.send(requestLine + "\r\nHost: x\r\n\r\n") == "554 5.7.0 HTTP request on an SMTP port\r\n")
        #expect(session.isClosed())
    }

    @Test("Commands named like HTTP verbs without HTTP/ are only unrecognized")
    func notHTTP() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.output()
        #expect(try session.send("GET lost\r\nNOOP\r\n") == "500 5.5.2 Command not recognized\r\n250 2.0.0 OK\r\n")
    }

    @Test("The 21st command error gets 421 4.7.0 Too many errors and the connection is closed")
    func tooManyErrors() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.output()
        let twenty = try session.send(String(repeating: "XYZZY\r\n", count: 20))
        #expect(twenty == String(repeating: "500 5.5.2 Command not recognized\r\n", count: 20))
        #expect(!session.isClosed())
        // Good commands do not count, and do not reset the count.
        #expect(try session.send("NOOP\r\n") == "250 2.0.0 OK\r\n")
        #expect(try session.send("RCPT TO:<a@b>\r\n") == "421 4.7.0 Too many errors\r\n")
        #expect(session.isClosed())
    }

    @Test("Shutdown: an idle session gets 421 4.3.2 Shutting down")
    func shutdownIdle() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.send("EHLO c\r\n")
        session.channel.pipeline.fireUserInboundEventTriggered(ShutdownRequested())
        #expect(try session.output() == "421 4.3.2 Shutting down\r\n")
        #expect(session.isClosed())
    }

    @Test("Shutdown: a session in DATA finishes its message, then gets 421")
    func shutdownInData() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
        session.channel.pipeline.fireUserInboundEventTriggered(ShutdownRequested())
        #expect(try session.output() == "")
        let reply = try session.send("hi\r\n.\r\n")
        #expect(reply.hasPrefix("250 2.0.0 OK queued as "))
        #expect(reply.hasSuffix("\r\n421 4.3.2 Shutting down\r\n"))
        #expect(session.isClosed())
    }

    @Test("Idle timeout → 421 4.4.2, counted from the last read")
    func idle() throws {
        let session = try SessionHarness(mode: .accept, timeLimits: .init(idle: .seconds(10)))
        _ = try session.output()
        session.advance(.seconds(6))
        #expect(try session.send("NOOP\r\n") == "250 2.0.0 OK\r\n")
        session.advance(.seconds(6))
        #expect(try session.output() == "")
        session.advance(.seconds(5))
        #expect(try session.output() == "421 4.4.2 Idle timeout\r\n")
        #expect(session.isClosed())
        let connection = session.log.events("connection").first
        #expect(connection?.metadata["outcome"] == "idle_timeout")
        #expect(connection?.metadata["client"] == "192.0.2.1:4321")
        #expect(session.log.events("limit_exceeded").first?.metadata["limit"] == "idle_timeout")
        #expect(session.clock.count == 0)
    }

    @Test("Session time limit → 421 4.4.2, however busy the client")
    func sessionTimeLimit() throws {
        let session = try SessionHarness(mode: .accept, timeLimits: .init(idle: .seconds(10), session: .seconds(30)))
        _ = try session.output()
        for _ in 0..<5 {
            session.advance(.seconds(5))
            #expect(try session.send("NOOP\r\n") == "250 2.0.0 OK\r\n")
        }
        session.advance(.seconds(6))
        #expect(try session.output() == "421 4.4.2 Session time limit exceeded\r\n")
        #expect(session.isClosed())
        #expect(session.log.events("connection").first?.metadata["outcome"] == "session_time_limit")
    }

    @Test("DATA time limit → 421 4.4.2; it starts at the 354 and ends at the dot")
    func dataTimeLimit() throws {
        let session = try SessionHarness(mode: .accept, timeLimits: .init(idle: .seconds(10), data: .seconds(15)))
        _ = try session.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\n")
        // Time before the DATA command does not count.
        session.advance(.seconds(8))
        #expect(try session.send("DATA\r\n").hasPrefix("354 "))
        for _ in 0..<2 {
            session.advance(.seconds(5))
            _ = try session.send("x")
        }
        #expect(try session.send("\r\n.\r\n").hasPrefix("250 2.0.0 OK queued as "))
        _ = try session.send("MAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
        for _ in 0..<2 {
            session.advance(.seconds(5))
            #expect(try session.send("x") == "")
        }
        session.advance(.seconds(4))
        #expect(try session.output() == "")
        session.advance(.seconds(2))
        #expect(try session.output() == "421 4.4.2 DATA time limit exceeded\r\n")
        #expect(session.isClosed())
        #expect(session.log.events("connection").first?.metadata["outcome"] == "data_time_limit")
    }

    @Test("The clock runs only while it has sessions")
    func clockStops() throws {
        let session = try SessionHarness(mode: .accept)
        #expect(session.clock.count == 1)
        _ = try session.send("QUIT\r\n")
        #expect(session.isClosed())
        #expect(session.clock.count == 0)
        #expect(SessionClock.tick(for: [.seconds(300), .seconds(1)]) == .milliseconds(100))
        #expect(SessionClock.tick(for: [.seconds(300)]) == .seconds(1))
        #expect(SessionClock.tick(for: [.milliseconds(20)]) == .milliseconds(10))
    }

    @Test("A command split across reads, and a pipelined batch split mid-line")
    func splitReads() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.output()
        #expect(try session.send("NO") == "")
        #expect(try session.send("OP\r") == "")
        #expect(try session.send("\nNOOP\r\nNO") == "250 2.0.0 OK\r\n250 2.0.0 OK\r\n")
        #expect(try session.send("OP\r\n") == "250 2.0.0 OK\r\n")
    }

    @Test("The reply buffer a session reuses never shows an earlier reply, nor changes one not yet sent")
    func replyBufferReuse() throws {
        let session = try SessionHarness(mode: .accept)
        #expect(try session.output().hasPrefix("220 "))
        let ehlo = try session.send("EHLO client.example\r\n")
        #expect(ehlo.hasPrefix("250-") && ehlo.hasSuffix("\r\n") && ehlo.count > 60, "\(ehlo)")
        // Read, so SwiftNIO's copy is gone: the next reply reuses the buffer, shorter.
        #expect(try session.send("NOOP\r\n") == "250 2.0.0 OK\r\n")
        #expect(try session.send("NOOP\r\n") == "250 2.0.0 OK\r\n")
        // Not read: the buffer is still the channel's, so the next reply takes a new one.
        try session.channel.writeInbound(ByteBuffer(string: "NOOP\r\n"))
        try session.channel.writeInbound(ByteBuffer(string: "MAIL FROM:<a@example.com>\r\n"))
        #expect(try session.output() == "250 2.0.0 OK\r\n250 2.1.0 OK\r\n")
        #expect(try session.send("EHLO again.example\r\n") == ehlo.replacingOccurrences(of: "client.example", with: "again.example"))
    }

    @Test("Bytes after QUIT are ignored")
    func afterQuit() throws {
        let session = try SessionHarness(mode: .accept)
        _ = try session.output()
        #expect(try session.send("QUIT\r\nNOOP\r\nNOOP\r\n") == "221 2.0.0 Bye\r\n")
    }
}

@Suite("Listen addresses")
struct ListenAddressTests {
    @Test("Parse", arguments: [
        ("127.0.0.1:2525", ListenAddress(host: "127.0.0.1", port: 2525)),
        ("0.0.0.0:25", ListenAddress(host: "0.0.0.0", port: 25)),
        ("[::1]:2525", ListenAddress(host: "::1", port: 2525)),
        ("localhost:0", ListenAddress(host: "localhost", port: 0)),
    ])
    func parse(text: String, expected: ListenAddress) {
        #expect(ListenAddress(parsing: text) == expected)
        #expect(ListenAddress(parsing: expected.description) == expected)
    }

    @Test("Refuse", arguments: ["", "2525", "127.0.0.1", "127.0.0.1:", ":25", "1.2.3.4:70000", "::1:25", "[::1]25"])
    func refuse(text: String) {
        #expect(ListenAddress(parsing: text) == nil)
    }
}
