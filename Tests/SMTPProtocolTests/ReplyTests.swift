import NIOCore
import Testing
@testable import SMTPProtocol

@Suite("Replies")
struct ReplyTests {
    @Test("Single-line reply with enhanced code")
    func singleLine() {
        var buffer = ByteBuffer()
        buffer.writeSMTPReply(.deferDefault)
        #expect(String(buffer: buffer) == "421 4.3.2 Service temporarily unavailable\r\n")
    }

    @Test("The wire bytes are the description, for every shape of reply", arguments: [
        SMTPReply.deferDefault, .startMailInput, .queued(id: "0123456789ABCDEF"), .greeting(hostname: "h.test"),
        .ehlo(hostname: "h.test", extensions: ["PIPELINING", "SIZE 1000"]), .help,
        SMTPReply(operatorText: "250 ok")!, SMTPReply(operatorText: "451 4.7.1 Greylisted")!,
        SMTPReply(code: ReplyCode(599)!, enhanced: EnhancedStatusCode(5, 999, 0), "edge"),
        SMTPReply(code: ReplyCode(200)!, enhanced: EnhancedStatusCode(2, 0, 10), lines: ["a", "", "c"]),
    ])
    func wireIsDescription(reply: SMTPReply) {
        var buffer = ByteBuffer()
        let written = buffer.writeSMTPReply(reply)
        #expect(String(buffer: buffer) == reply.description)
        #expect(written == reply.description.utf8.count)
    }

    @Test("Multi-line EHLO reply uses 250- then 250 space")
    func multiLine() {
        let config = SessionConfiguration(hostname: "sinkhole.test", maxMessageSize: 1000)
        let reply = SMTPReply.ehlo(hostname: "sinkhole.test", extensions: config.extensions)
        #expect(reply.description == """
            250-sinkhole.test\r
            250-PIPELINING\r
            250-SIZE 1000\r
            250-8BITMIME\r
            250-ENHANCEDSTATUSCODES\r
            250-SMTPUTF8\r
            250-DSN\r
            250-CHUNKING\r
            250 BINARYMIME\r

            """)
    }

    @Test("Greeting")
    func greeting() {
        #expect(SMTPReply.greeting(hostname: "mx.test").description == "220 mx.test ESMTP sinkhole\r\n")
    }

    static let fixed: [(SMTPReply, String)] = [
        (.senderOK, "250 2.1.0 OK"), (.recipientOK, "250 2.1.5 OK"), (.bye, "221 2.0.0 Bye"),
        (.startMailInput, "354 End data with <CR><LF>.<CR><LF>"),
        (.queued(id: "ABC"), "250 2.0.0 OK queued as ABC"),
        (.commandUnrecognized, "500 5.5.2 Command not recognized"),
        (.lineTooLong, "500 5.5.6 Line too long"),
        (.sendHeloFirst, "503 5.5.1 Send HELO/EHLO first"),
        (.noValidRecipients, "554 5.5.1 No valid recipients"),
        (.tooManyRecipients, "452 4.5.3 Too many recipients"),
        (.messageTooBig, "552 5.3.4 Message size exceeds fixed limit"),
        (.tooManyConnections, "421 4.7.0 Too many connections"),
        (.idleTimeout, "421 4.4.2 Idle timeout"),
        (.shuttingDown, "421 4.3.2 Shutting down"),
        (.bounceDefault, "550 5.1.1 User unknown"),
        (.cannotVerify, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery"),
    ]

    @Test("Fixed replies encode exactly", arguments: fixed)
    func fixedReplies(reply: SMTPReply, wire: String) {
        #expect(reply.description == wire + "\r\n")
        #expect(String(buffer: reply.encoded) == wire + "\r\n")
    }

    @Test("Operator replies round-trip", arguments: [
        "451 4.7.1 Greylisted", "550 No such user here", "421 4.3.2 Service temporarily unavailable",
        "250 2.1.5 Recipient fine",
    ])
    func operatorRoundTrip(text: String) throws {
        let reply = try #require(SMTPReply(operatorText: text))
        #expect(reply.description == text + "\r\n")
        #expect(SMTPReply(operatorText: String(reply.description.dropLast(1))) == reply)  // "\r\n" is one Character
    }

    @Test("Operator reply: code only gets text OK")
    func operatorCodeOnly() {
        #expect(SMTPReply(operatorText: "451")?.description == "451 OK\r\n")
    }

    @Test("Malformed operator replies are refused", arguments: [
        "", "45", "4511 x", "abc", "199 too low", "600 too high", "451 5.7.1 class mismatch", "451-x", "451 a\u{0}b",
    ])
    func operatorInvalid(text: String) {
        #expect(SMTPReply(operatorText: text) == nil)
    }

    @Test("Enhanced status codes parse and reject")
    func enhanced() {
        #expect(EnhancedStatusCode("4.7.1")?.description == "4.7.1")
        #expect(EnhancedStatusCode("3.1.1") == nil)
        #expect(EnhancedStatusCode("4.1") == nil)
        #expect(EnhancedStatusCode("4.1.1000") == nil)
        #expect(EnhancedStatusCode("4..1") == nil)
    }
}
