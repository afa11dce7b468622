import Testing
@testable import SMTPProtocol

@Suite("Reply books")
struct ReplyBookTests {
    let alice = ForwardPath.mailbox(Mailbox(localPart: "alice", domain: "example.com"))

    func session(_ personality: SMTPPersonality) -> SMTPSessionStateMachine {
        SMTPSessionStateMachine(
            configuration: SessionConfiguration(hostname: "mx.test", personality: personality, maxMessageSize: 1000),
            clientIP: "192.0.2.1")
    }

    @Test("The sinkhole book is sinkhole's replies")
    func sinkholeBook() {
        let book = SMTPReplyBook(personality: .sinkhole, hostname: "mx.test")
        #expect(book.greeting == .greeting(hostname: "mx.test"))
        #expect(book.senderOK == .senderOK)
        #expect(book.queued(id: "ABC") == .queued(id: "ABC"))
        #expect(book.sequence(.beforeHelo, verb: "MAIL") == .sendHeloFirst)
        #expect(book.adapt(.idleTimeout) == .idleTimeout)
        #expect(book.vrfy("bob") == .cannotVerify)
    }

    @Test("A BadSMTP session, reply by reply")
    func badsmtpSession() {
        var machine = session(.badsmtp)
        var decider = AcceptAllDecider()
        #expect(machine.greeting(decider: &decider).wire
            == "220 mx.test ESMTP BadSMTP - The Reliably Unreliable Mail Server https://badsmtp.com\r\n")
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider).wire
            == "503 Bad sequence - MAIL not allowed in HELO state\r\n")
        #expect(machine.receive(.ehlo(domain: "c"), decider: &decider).wire
            == "250-badsmtp.test\r\n250-8BITMIME\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n"
            + "250-ENHANCEDSTATUSCODES\r\n250 OK\r\n")
        #expect(machine.receive(.rcpt(to: alice), decider: &decider).wire
            == "503 Bad sequence - RCPT not allowed in MAIL state\r\n")
        #expect(machine.receive(.mail(from: .null, parameters: [.size(2000)]), decider: &decider).wire
            == "552 Message size exceeds fixed maximum of 1000 bytes\r\n")
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider).wire == "250 OK\r\n")
        #expect(machine.receive(.rcpt(to: alice), decider: &decider).wire == "250 OK\r\n")
        #expect(machine.receive(.data, decider: &decider) == .startData(.startMailInput))
        #expect(machine.receiveEndOfData(size: 10, exceededLimit: false, queueID: "Q", decider: &decider).wire == "250 OK Message accepted for delivery\r\n")
        #expect(machine.receive(.vrfy("bob@example.com"), decider: &decider).wire
            == "550 Requested action not taken: mailbox unavailable\r\n")
        #expect(machine.receive(.notImplemented(verb: "EXPN"), decider: &decider).wire
            == "500 Command not recognised\r\n")
        #expect(machine.receive(.notImplemented(verb: "AUTH"), decider: &decider).wire
            == "502 Command not implemented\r\n")
        #expect(machine.reject(SMTPParseError(.mailSyntax)).wire == "501 Syntax error in parameters\r\n")
        #expect(machine.receive(.quit, decider: &decider) == .replyAndClose(SMTPReply(code: .closing, "Bye")))
    }

    @Test("BadSMTP's words carry no enhanced codes, and keep their own texts for limits")
    func badsmtpAdapt() {
        let book = SMTPReplyBook(personality: .badsmtp, hostname: "mx.test")
        #expect(book.adapt(.idleTimeout).description == "421 Idle timeout\r\n")
        #expect(book.adapt(.lineTooLong).description == "500 Command too long\r\n")
        #expect(book.adapt(.commandUnrecognized).description == "500 Command not recognised\r\n")
        #expect(book.shuttingDown.description == "421 Service shutting down\r\n")
        #expect(book.helo.description == "250 badsmtp.test\r\n")
    }

    @Test("Personality names parse in any case")
    func names() {
        #expect(SMTPPersonality(parsing: " BadSMTP ") == .badsmtp)
        #expect(SMTPPersonality(parsing: "postfix") == nil)
    }
}

extension SessionAction {
    /// The reply on the wire, if the action sends one.
    fileprivate var wire: String? {
        switch self {
        case .reply(let reply), .replyAndClose(let reply), .startData(let reply): reply.description
        default: nil
        }
    }
}
