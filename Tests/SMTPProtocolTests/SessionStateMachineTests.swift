import Testing
@testable import SMTPProtocol

/// A decider that answers RCPT with a fixed reply, and records what it was asked.
struct ScriptedDecider: SMTPDecider {
    var rcptReply: SMTPReply?
    var endOfDataReply: SMTPReply?
    var events: [SMTPEvent] = []

    mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        events.append(event)
        switch event {
        case .rcpt: return rcptReply.map(SMTPDecision.reply) ?? .proceed
        case .endOfData: return endOfDataReply.map(SMTPDecision.reply) ?? .proceed
        default: return .proceed
        }
    }
}

@Suite("Session state machine")
struct SessionStateMachineTests {
    let config = SessionConfiguration(hostname: "sinkhole.test", maxRecipients: 2, maxMessageSize: 100)
    let alice = ForwardPath.mailbox(Mailbox(localPart: "alice", domain: "example.com"))

    func session() -> SMTPSessionStateMachine { SMTPSessionStateMachine(configuration: config, clientIP: "192.0.2.1") }

    @Test("Greeting is 220 with the hostname")
    func greeting() {
        var machine = session()
        var decider = AcceptAllDecider()
        #expect(machine.greeting(decider: &decider) == .reply(.greeting(hostname: "sinkhole.test")))
    }

    @Test("Cannot send MAIL before HELO")
    func mailBeforeHelo() {
        var machine = session()
        var decider = AcceptAllDecider()
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.sendHeloFirst))
    }

    @Test("Cannot send RCPT before MAIL, nor DATA before RCPT")
    func ordering() {
        var machine = session()
        var decider = AcceptAllDecider()
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        #expect(machine.receive(.rcpt(to: alice), decider: &decider) == .reply(.needMail))
        #expect(machine.receive(.data, decider: &decider) == .reply(.needMail))
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.data, decider: &decider) == .reply(.needRecipient))
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.nestedMail))
    }

    @Test("A whole transaction, then a second one")
    func transaction() {
        var machine = session()
        var decider = AcceptAllDecider()
        #expect(machine.receive(.ehlo(domain: "c"), decider: &decider)
            == .reply(.ehlo(hostname: "sinkhole.test", extensions: config.extensions)))
        #expect(machine.receive(.mail(from: .null, parameters: [.size(10)]), decider: &decider) == .reply(.senderOK))
        #expect(machine.receive(.rcpt(to: alice), decider: &decider) == .reply(.recipientOK))
        #expect(machine.receive(.data, decider: &decider) == .startData(.startMailInput))
        #expect(machine.isReceivingData)
        #expect(machine.receiveEndOfData(size: 10, exceededLimit: false, queueID: "Q1", decider: &decider)
            == .reply(.queued(id: "Q1")))
        #expect(!machine.isReceivingData)
        #expect(machine.recipients.isEmpty)
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))
    }

    @Test("RSET clears the transaction but keeps HELO")
    func rset() {
        var machine = session()
        var decider = AcceptAllDecider()
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.rset, decider: &decider) == .reply(.ok))
        #expect(machine.receive(.rcpt(to: alice), decider: &decider) == .reply(.needMail))
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))
    }

    @Test("A 421 from the policy closes the session")
    func policy421() {
        var machine = session()
        var decider = ScriptedDecider(rcptReply: .deferDefault)
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.rcpt(to: alice), decider: &decider) == .replyAndClose(.deferDefault))
        #expect(machine.isClosed)
        #expect(machine.receive(.noop, decider: &decider) == .none)
    }

    @Test("Refused recipients: DATA → 554 No valid recipients, session continues")
    func bounce() {
        var machine = session()
        var decider = ScriptedDecider(rcptReply: .bounceDefault)
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.rcpt(to: alice), decider: &decider) == .reply(.bounceDefault))
        #expect(machine.receive(.data, decider: &decider) == .reply(.noValidRecipients))
        #expect(machine.receive(.noop, decider: &decider) == .reply(.ok))
    }

    @Test("Recipients past the limit → 452 4.5.3, without asking the policy")
    func tooManyRecipients() {
        var machine = session()
        var decider = ScriptedDecider()
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.rcpt(to: alice), decider: &decider) == .reply(.recipientOK))
        #expect(machine.receive(.rcpt(to: .postmaster), decider: &decider) == .reply(.recipientOK))
        #expect(machine.receive(.rcpt(to: alice), decider: &decider) == .reply(.tooManyRecipients))
        // Asked at HELO, MAIL and each RCPT within the limit, not at the third.
        #expect(decider.events.filter { if case .rcpt = $0 { true } else { false } }.count == 2)
        #expect(decider.events.count == 4)
        #expect(machine.recipients.count == 2)
    }

    @Test("SIZE over the limit at MAIL → 552 5.3.4")
    func declaredSize() {
        var machine = session()
        var decider = AcceptAllDecider()
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        #expect(machine.receive(.mail(from: .null, parameters: [.size(101)]), decider: &decider) == .reply(.messageTooBig))
        #expect(machine.receive(.mail(from: .null, parameters: [.size(100)]), decider: &decider) == .reply(.senderOK))
    }

    @Test("Content over the limit → 552 5.3.4 at the end, and the session goes on")
    func contentTooBig() {
        var machine = session()
        var decider = AcceptAllDecider()
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        _ = machine.receive(.rcpt(to: alice), decider: &decider)
        _ = machine.receive(.data, decider: &decider)
        #expect(machine.receiveEndOfData(size: 101, exceededLimit: true, queueID: "Q", decider: &decider)
            == .reply(.messageTooBig))
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))
    }

    @Test("QUIT → 221 and close; VRFY 252; HELP 214; STARTTLS 502")
    func miscellany() {
        var machine = session()
        var decider = AcceptAllDecider()
        #expect(machine.receive(.vrfy("x"), decider: &decider) == .reply(.cannotVerify))
        #expect(machine.receive(.help, decider: &decider) == .reply(.help))
        #expect(machine.receive(.notImplemented(verb: "STARTTLS"), decider: &decider) == .reply(.commandNotImplemented))
        #expect(machine.receive(.quit, decider: &decider) == .replyAndClose(.bye))
        #expect(machine.isClosed)
    }

    @Test("A parse error leaves the state unchanged")
    func parseError() {
        var machine = session()
        var decider = AcceptAllDecider()
        _ = machine.receive(.helo(domain: "c"), decider: &decider)
        #expect(machine.reject(SMTPParseError(.mailSyntax)) == .reply(.mailSyntax))
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))
    }

    @Test("A parameter is taken only when an advertised extension owns it, else 555 5.5.4")
    func extensionParameters() {
        var withoutDSN = config
        withoutDSN.dsn = false
        var machine = SMTPSessionStateMachine(configuration: withoutDSN, clientIP: nil)
        var decider = AcceptAllDecider()
        _ = machine.receive(.ehlo(domain: "c"), decider: &decider)
        let ret = MailParameter.dsn(.ret, "HDRS")
        #expect(machine.receive(.mail(from: .null, parameters: [ret]), decider: &decider) == .reply(.unsupportedParameter("RET")))
        #expect(machine.receive(.mail(from: .null, parameters: [.other(keyword: "MT-PRIORITY", value: "3")]), decider: &decider)
            == .reply(.unsupportedParameter("MT-PRIORITY")))

        // James's /smtpExtensions can still offer DSN where --no-dsn withholds it.
        var dsn = SMTPSessionStateMachine(configuration: withoutDSN, clientIP: nil)
        var extended = ExtraKeywordsDecider(extra: ["dsn", "MT-PRIORITY"])
        _ = dsn.receive(.ehlo(domain: "c"), decider: &extended)
        #expect(dsn.receive(.mail(from: .null, parameters: [ret, .other(keyword: "MT-PRIORITY", value: "3")]),
                            decider: &extended) == .reply(.senderOK))
        #expect(dsn.mailParameters == [ret, .other(keyword: "MT-PRIORITY", value: "3")])
        #expect(dsn.receive(.rcpt(to: alice, parameters: [.other(keyword: "RET", value: "FULL")]), decider: &extended)
            == .reply(.unsupportedParameter("RET")), "RET belongs on MAIL")
        #expect(dsn.receive(.rcpt(to: .postmaster), decider: &extended) == .reply(.recipientOK))
        let notify = MailParameter.dsn(.notify, "NEVER")
        #expect(dsn.receive(.rcpt(to: alice, parameters: [notify]), decider: &extended) == .reply(.recipientOK))
        #expect(dsn.parameters(ofRecipient: 0) == [] && dsn.parameters(ofRecipient: 1) == [notify])
    }

    @Test("DSN is offered by default: its parameters are taken where they belong")
    func dsnByDefault() {
        var machine = session()
        var decider = AcceptAllDecider()
        guard case .reply(let ehlo) = machine.receive(.ehlo(domain: "c"), decider: &decider) else { Issue.record("no EHLO reply"); return }
        #expect(ehlo.lines.suffix(3) == ["DSN", "CHUNKING", "BINARYMIME"])
        #expect(machine.receive(.mail(from: .null, parameters: [.dsn(.ret, "FULL"), .dsn(.envid, "x")]), decider: &decider)
            == .reply(.senderOK))
        #expect(machine.receive(.rcpt(to: alice, parameters: [.dsn(.ret, "FULL")]), decider: &decider)
            == .reply(.unsupportedParameter("RET")))
        #expect(machine.receive(.rcpt(to: alice, parameters: [.dsn(.notify, "SUCCESS"), .dsn(.orcpt, "rfc822;a@b.c")]),
                                decider: &decider) == .reply(.recipientOK))
    }

    @Test("A UTF-8 address needs SMTPUTF8 on MAIL: 553 5.6.7 without it; withheld keywords refuse their parameters")
    func declaredExtensions() {
        let utf8 = Mailbox(localPart: "ünï", domain: "example.com")
        var machine = session()
        var decider = AcceptAllDecider()
        _ = machine.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(machine.receive(.mail(from: .mailbox(utf8), parameters: []), decider: &decider) == .reply(.utf8AddressUndeclared))
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))
        #expect(machine.receive(.rcpt(to: .mailbox(utf8)), decider: &decider) == .reply(.utf8AddressUndeclared))
        _ = machine.receive(.rset, decider: &decider)
        #expect(machine.receive(.mail(from: .mailbox(utf8), parameters: [.smtpUTF8]), decider: &decider) == .reply(.senderOK))
        #expect(machine.receive(.rcpt(to: .mailbox(utf8)), decider: &decider) == .reply(.recipientOK))

        var withheld = config
        withheld.smtpUTF8 = false
        withheld.eightBitMIME = false
        withheld.chunking = false
        var plain = SMTPSessionStateMachine(configuration: withheld, clientIP: nil)
        _ = plain.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(plain.receive(.mail(from: .null, parameters: [.smtpUTF8]), decider: &decider) == .reply(.unsupportedParameter("SMTPUTF8")))
        #expect(plain.receive(.mail(from: .null, parameters: [.body(.eightBitMIME)]), decider: &decider)
            == .reply(.unsupportedParameter("BODY=8BITMIME")))
        #expect(plain.receive(.mail(from: .null, parameters: [.body(.binaryMIME)]), decider: &decider)
            == .reply(.unsupportedParameter("BODY=BINARYMIME")))
        #expect(plain.receive(.mail(from: .null, parameters: [.body(.sevenBit)]), decider: &decider) == .reply(.senderOK))
    }

    @Test("BDAT: chunks, the last one's message reply, and every refusal reads the chunk first")
    func bdat() {
        var machine = session()
        var decider = AcceptAllDecider()
        let dropped = { (size: Int) in SessionAction.receiveChunk(BDATChunk(size: size, last: false, starts: false, keep: false)) }
        // Before HELO, before MAIL, before RCPT: the chunk is read and dropped, then 503.
        #expect(machine.receive(.bdat(size: 3, last: false), decider: &decider) == dropped(3))
        #expect(machine.isDroppingChunk)
        #expect(machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider) == .reply(.sendHeloFirst))
        #expect(!machine.isDroppingChunk)
        _ = machine.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(machine.receive(.bdat(size: 3, last: false), decider: &decider) == dropped(3))
        #expect(machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider) == .reply(.needMail))
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.bdat(size: 3, last: false), decider: &decider) == dropped(3))
        #expect(machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider) == .reply(.needRecipient))
        _ = machine.receive(.rcpt(to: alice, parameters: []), decider: &decider)
        // Two chunks, then a zero-length LAST.
        #expect(machine.receive(.bdat(size: 40, last: false), decider: &decider)
            == .receiveChunk(BDATChunk(size: 40, last: false, starts: true, keep: true)))
        #expect(machine.isReceivingData)
        #expect(machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider) == .reply(.chunkReceived(octets: 40)))
        #expect(machine.receive(.data, decider: &decider) == .reply(.dataAfterBDAT))
        #expect(machine.receive(.bdat(size: 60, last: false), decider: &decider)
            == .receiveChunk(BDATChunk(size: 60, last: false, starts: false, keep: true)))
        #expect(machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider) == .reply(.chunkReceived(octets: 60)))
        #expect(machine.chunkedOctets == 100)
        #expect(machine.receive(.bdat(size: 0, last: true), decider: &decider)
            == .receiveChunk(BDATChunk(size: 0, last: true, starts: false, keep: true)))
        #expect(machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q1", decider: &decider) == .reply(.queued(id: "Q1")))
        #expect(machine.chunkedOctets == nil && machine.recipients.isEmpty)
        // Over the limit (100): read and dropped, 552, and the transaction is over.
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        _ = machine.receive(.rcpt(to: alice, parameters: []), decider: &decider)
        _ = machine.receive(.bdat(size: 60, last: false), decider: &decider)
        _ = machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider)
        #expect(machine.receive(.bdat(size: 41, last: true), decider: &decider)
            == .receiveChunk(BDATChunk(size: 41, last: true, starts: false, keep: false)))
        #expect(machine.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider) == .reply(.messageTooBig))
        #expect(machine.reversePath == nil)
        // BINARYMIME goes only in chunks.
        _ = machine.receive(.mail(from: .null, parameters: [.body(.binaryMIME)]), decider: &decider)
        _ = machine.receive(.rcpt(to: alice, parameters: []), decider: &decider)
        #expect(machine.receive(.data, decider: &decider) == .reply(.binaryNeedsBDAT))
        // Withheld CHUNKING: 502, the chunk read all the same.
        var withheld = config
        withheld.chunking = false
        var plain = SMTPSessionStateMachine(configuration: withheld, clientIP: nil)
        _ = plain.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(plain.receive(.bdat(size: 5, last: true), decider: &decider)
            == .receiveChunk(BDATChunk(size: 5, last: true, starts: false, keep: false)))
        #expect(plain.receiveEndOfChunk(exceededLimit: false, queueID: "Q", decider: &decider) == .reply(.commandNotImplemented))
    }
}

/// Accepts everything and advertises more EHLO keywords.
struct ExtraKeywordsDecider: SMTPDecider {
    var extra: [String]
    mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        if case .ehlo = event { return SMTPDecision(.proceed, adjustments: CapabilityAdjustments(extra: extra)) }
        return .proceed
    }
}

/// Answers STARTTLS as told; everything else proceeds.
struct StartTLSDecider: SMTPDecider {
    var answer: SMTPDecision = .proceed
    var withhold = false
    mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        switch event {
        case .startTLS: return answer
        case .ehlo where withhold: return SMTPDecision(.proceed, adjustments: CapabilityAdjustments(startTLS: false))
        default: return .proceed
        }
    }
}

@Suite("STARTTLS in the state machine")
struct StartTLSStateMachineTests {
    let offering = SessionConfiguration(hostname: "sinkhole.test", startTLS: true)
    let alice = ForwardPath.mailbox(Mailbox(localPart: "alice", domain: "example.com"))

    @Test("Offered, accepted, and the session starts over: a fresh EHLO without STARTTLS, the transaction gone")
    func startsOver() {
        var machine = SMTPSessionStateMachine(configuration: offering, clientIP: "192.0.2.1")
        var decider = AcceptAllDecider()
        guard case .reply(let ehlo) = machine.receive(.ehlo(domain: "c"), decider: &decider) else { Issue.record("no EHLO reply"); return }
        #expect(ehlo.lines.contains("STARTTLS"))
        #expect(machine.receive(.startTLS, decider: &decider) == .startTLS(.readyToStartTLS))
        #expect(machine.secured && machine.heloName == nil)
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.sendHeloFirst))
        guard case .reply(let again) = machine.receive(.ehlo(domain: "c"), decider: &decider) else { Issue.record("no EHLO reply"); return }
        #expect(!again.lines.contains("STARTTLS"))
        #expect(machine.receive(.startTLS, decider: &decider) == .reply(.tlsAlreadyActive))
    }

    @Test("Inside a transaction: 503; not configured or withheld: 502; with parameters: 501")
    func refusals() {
        var machine = SMTPSessionStateMachine(configuration: offering, clientIP: nil)
        var decider = AcceptAllDecider()
        _ = machine.receive(.ehlo(domain: "c"), decider: &decider)
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.startTLS, decider: &decider) == .reply(.startTLSInTransaction))

        var plain = SMTPSessionStateMachine(configuration: SessionConfiguration(hostname: "h"), clientIP: nil)
        _ = plain.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(plain.receive(.startTLS, decider: &decider) == .reply(.commandNotImplemented))

        var withheld = SMTPSessionStateMachine(configuration: offering, clientIP: nil)
        var withholding = StartTLSDecider(withhold: true)
        _ = withheld.receive(.ehlo(domain: "nostarttls"), decider: &withholding)
        #expect(withheld.receive(.startTLS, decider: &withholding) == .reply(.commandNotImplemented))

        #expect(SMTPCommandParser.parse("STARTTLS now") == .failure(SMTPParseError(.noParameters("STARTTLS"))))
    }

    @Test("The policy's answers: 454 without a handshake, even where STARTTLS is not offered; a broken handshake")
    func policy() {
        var refusing = StartTLSDecider(answer: .reply(.tlsNotAvailable))
        var machine = SMTPSessionStateMachine(configuration: SessionConfiguration(hostname: "h"), clientIP: nil)
        _ = machine.receive(.ehlo(domain: "c"), decider: &refusing)
        #expect(machine.receive(.startTLS, decider: &refusing) == .reply(.tlsNotAvailable))
        #expect(!machine.secured)

        var breaking = StartTLSDecider(answer: SMTPDecision(.breakTLS(nil, .garbage)))
        var broken = SMTPSessionStateMachine(configuration: offering, clientIP: nil)
        _ = broken.receive(.ehlo(domain: "c"), decider: &breaking)
        #expect(broken.receive(.startTLS, decider: &breaking) == .breakTLS(.readyToStartTLS, .garbage))
        #expect(broken.isClosed)
    }

    @Test("--require-tls: MAIL before TLS is 530 5.7.0; after it, accepted; implicit TLS is secured from the start")
    func requireTLS() {
        let config = SessionConfiguration(hostname: "h", startTLS: true, requireTLS: true)
        var machine = SMTPSessionStateMachine(configuration: config, clientIP: nil)
        var decider = AcceptAllDecider()
        _ = machine.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.mustStartTLS))
        _ = machine.receive(.startTLS, decider: &decider)
        _ = machine.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(machine.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))

        var implicit = SMTPSessionStateMachine(configuration: config, clientIP: nil, secured: true)
        guard case .reply(let ehlo) = implicit.receive(.ehlo(domain: "c"), decider: &decider) else { Issue.record("no EHLO reply"); return }
        #expect(!ehlo.lines.contains("STARTTLS"))
        #expect(implicit.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))
    }
}

/// Fails `badauth` users with 535, as BadSMTP's rule; counts what it was asked.
struct AuthDecider: SMTPDecider {
    var seen: [SASLCredentials] = []
    mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        guard case .authenticate(let credentials) = event else { return .proceed }
        seen.append(credentials)
        return credentials.identity.contains("badauth") ? .reply(.authFailed) : .proceed
    }
    func saslChallenge(hostname: String) -> String { "<42.7@\(hostname)>" }
}

@Suite("AUTH in the state machine")
struct AuthStateMachineTests {
    let config = SessionConfiguration(hostname: "h", authMechanisms: SASLMechanism.allCases)

    func ready() -> SMTPSessionStateMachine {
        var machine = SMTPSessionStateMachine(configuration: config, clientIP: nil)
        var decider = AcceptAllDecider()
        _ = machine.receive(.ehlo(domain: "c"), decider: &decider)
        return machine
    }

    func b64(_ text: String) -> String { SASL.encode(text) }

    @Test("PLAIN with and without an initial response; the identity kept; a second AUTH refused")
    func plain() {
        var machine = ready()
        var decider = AuthDecider()
        #expect(machine.receive(.auth(mechanism: "PLAIN", initialResponse: nil), decider: &decider) == .reply(SMTPReply(code: .authChallenge, "")))
        #expect(machine.awaitingAuthResponse)
        #expect(machine.receiveAuthResponse(b64("\0alice\0pw"), decider: &decider) == .reply(.authSucceeded))
        #expect(machine.authenticatedUser == "alice" && !machine.awaitingAuthResponse)
        #expect(decider.seen == [SASLCredentials(mechanism: .plain, identity: "alice", secret: .password("pw"))])
        #expect(machine.receive(.auth(mechanism: "PLAIN", initialResponse: b64("\0a\0b")), decider: &decider) == .reply(.alreadyAuthenticated))
    }

    @Test("LOGIN's two prompts; CRAM's challenge from the decider; cancel and bad base64")
    func loginAndCram() {
        var machine = ready()
        var decider = AuthDecider()
        #expect(machine.receive(.auth(mechanism: "LOGIN", initialResponse: nil), decider: &decider)
            == .reply(SMTPReply(code: .authChallenge, "VXNlcm5hbWU6")))
        #expect(machine.receiveAuthResponse(b64("badauth"), decider: &decider) == .reply(SMTPReply(code: .authChallenge, "UGFzc3dvcmQ6")))
        #expect(machine.receiveAuthResponse(b64("pw"), decider: &decider) == .reply(.authFailed))
        #expect(machine.receive(.auth(mechanism: "CRAM-MD5", initialResponse: nil), decider: &decider)
            == .reply(SMTPReply(code: .authChallenge, b64("<42.7@h>"))))
        #expect(machine.receiveAuthResponse("*", decider: &decider) == .reply(.authCancelled))
        _ = machine.receive(.auth(mechanism: "CRAM-SHA256", initialResponse: nil), decider: &decider)
        #expect(machine.receiveAuthResponse("%%%", decider: &decider) == .reply(.authUndecodable))
        _ = machine.receive(.auth(mechanism: "CRAM-MD5", initialResponse: nil), decider: &decider)
        let digest = String(repeating: "ab", count: 16)
        #expect(machine.receiveAuthResponse(b64("bob \(digest)"), decider: &decider) == .reply(.authSucceeded))
        #expect(decider.seen.last == SASLCredentials(mechanism: .cramMD5, identity: "bob",
                                                      secret: .digest(challenge: "<42.7@h>", response: digest)))
    }

    @Test("XOAUTH2's failure: the JSON 334, then the 535 whatever the client says")
    func xoauth2() {
        var machine = ready()
        var decider = AuthDecider()
        let bad = b64("user=badauth@x\u{1}auth=Bearer t\u{1}\u{1}")
        guard case .reply(let challenge) = machine.receive(.auth(mechanism: "XOAUTH2", initialResponse: bad), decider: &decider) else {
            Issue.record("no reply"); return
        }
        #expect(challenge.code == .authChallenge && challenge.lines == [b64(SASL.oauthError(.xoauth2))])
        #expect(machine.receiveAuthResponse("", decider: &decider) == .reply(.authFailed))
        #expect(machine.authenticatedUser == nil)
    }

    @Test("Sequence: before EHLO, inside a transaction, unknown or unoffered mechanism, TLS only, require-auth")
    func sequence() {
        var decider = AuthDecider()
        var fresh = SMTPSessionStateMachine(configuration: config, clientIP: nil)
        #expect(fresh.receive(.auth(mechanism: "PLAIN", initialResponse: nil), decider: &decider) == .reply(.sendHeloFirst))
        var machine = ready()
        #expect(machine.receive(.auth(mechanism: "GSSAPI", initialResponse: nil), decider: &decider) == .reply(.authMechanismUnknown))
        _ = machine.receive(.mail(from: .null, parameters: []), decider: &decider)
        #expect(machine.receive(.auth(mechanism: "PLAIN", initialResponse: nil), decider: &decider) == .reply(.authInTransaction))

        var tlsOnly = config
        tlsOnly.authOverTLSOnly = true
        tlsOnly.requireAuth = true
        var plain = SMTPSessionStateMachine(configuration: tlsOnly, clientIP: nil)
        _ = plain.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(plain.receive(.auth(mechanism: "PLAIN", initialResponse: nil), decider: &decider) == .reply(.authNeedsTLS))
        #expect(plain.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.authRequired))
        var secured = SMTPSessionStateMachine(configuration: tlsOnly, clientIP: nil, secured: true)
        _ = secured.receive(.ehlo(domain: "c"), decider: &decider)
        #expect(secured.receive(.auth(mechanism: "PLAIN", initialResponse: b64("\0a\0b")), decider: &decider) == .reply(.authSucceeded))
        #expect(secured.receive(.mail(from: .null, parameters: []), decider: &decider) == .reply(.senderOK))
    }

    @Test("SASL's parsers: malformed responses are nil, and a description never shows the secret")
    func parsers() {
        #expect(SASL.decode("=") == [])
        #expect(SASL.decode("not base64!") == nil)
        #expect(SASL.plain(Array("\0alice".utf8)) == nil)
        #expect(SASL.plain(Array("admin\0alice\0pw".utf8))?.identity == "alice")
        #expect(SASL.cram(Array("bob 1234".utf8), mechanism: .cramMD5, challenge: "c") == nil)
        #expect(SASL.xoauth2(Array("user=a\u{1}\u{1}".utf8)) == nil)
        #expect(SASL.oauthBearer(Array("n,a=a=2Cb@x,\u{1}auth=Bearer T\u{1}\u{1}".utf8))?.identity == "a,b@x")
        let credentials = SASLCredentials(mechanism: .plain, identity: "alice", secret: .password("hunter2"))
        #expect(!"\(credentials)".contains("hunter2"))
    }
}
