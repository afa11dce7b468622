import NIOCore
import Testing
@testable import SMTPProtocol

@Suite("Command parser")
struct ParserTests {
    static let alice = Mailbox(localPart: "alice", domain: "example.com")

    static let valid: [(String, SMTPCommand)] = [
        ("HELO client.example", .helo(domain: "client.example")),
        ("helo client.example", .helo(domain: "client.example")),
        ("EHLO [192.0.2.1]", .ehlo(domain: "[192.0.2.1]")),
        ("EhLo   spaced.example  ", .ehlo(domain: "spaced.example")),
        ("MAIL FROM:<alice@example.com>", .mail(from: .mailbox(alice), parameters: [])),
        ("mail from:<alice@example.com>", .mail(from: .mailbox(alice), parameters: [])),
        ("MAIL FROM: <alice@example.com>", .mail(from: .mailbox(alice), parameters: [])),
        ("MAIL FROM:alice@example.com", .mail(from: .mailbox(alice), parameters: [])),
        ("MAIL FROM:<>", .mail(from: .null, parameters: [])),
        ("MAIL FROM:<> SIZE=1024", .mail(from: .null, parameters: [.size(1024)])),
        ("MAIL FROM:<alice@example.com> SIZE=10 BODY=8BITMIME SMTPUTF8",
         .mail(from: .mailbox(alice), parameters: [.size(10), .body(.eightBitMIME), .smtpUTF8])),
        ("MAIL FROM:<alice@example.com> body=7bit", .mail(from: .mailbox(alice), parameters: [.body(.sevenBit)])),
        ("MAIL FROM:<@relay.example:alice@example.com>", .mail(from: .mailbox(alice), parameters: [])),
        ("MAIL FROM:<\"a b>c\"@example.com>",
         .mail(from: .mailbox(Mailbox(localPart: "\"a b>c\"", domain: "example.com")), parameters: [])),
        ("MAIL FROM:<ünïcode@exämple.com> SMTPUTF8",
         .mail(from: .mailbox(Mailbox(localPart: "ünïcode", domain: "exämple.com")), parameters: [.smtpUTF8])),
        ("EHLO \thost.exämple\t ", .ehlo(domain: "host.exämple")),
        ("HELO e\u{301}", .helo(domain: "e\u{301}")),
        ("RCPT TO:<ünïcode@exämple.com>  \t", .rcpt(to: .mailbox(Mailbox(localPart: "ünïcode", domain: "exämple.com")))),
        ("RCPT TO:<\"ü\"@[192.0.2.1]>", .rcpt(to: .mailbox(Mailbox(localPart: "\"ü\"", domain: "[192.0.2.1]")))),
        ("RCPT TO:<PostMaster>", .rcpt(to: .postmaster)),
        ("RCPT TO:   <alice@example.com>", .rcpt(to: .mailbox(alice))),
        ("RCPT TO:<alice@example.com>", .rcpt(to: .mailbox(alice))),
        ("RCPT TO:<Postmaster>", .rcpt(to: .postmaster)),
        ("rcpt to:<postmaster>", .rcpt(to: .postmaster)),
        ("RCPT TO:<alice@[192.0.2.1]>", .rcpt(to: .mailbox(Mailbox(localPart: "alice", domain: "[192.0.2.1]")))),
        // DSN's parameters, validated (RFC 3461); one no extension of sinkhole's owns: the session decides.
        ("MAIL FROM:<alice@example.com> ret=hdrs ENVID=QQ+2B1 REQUIRETLS",
         .mail(from: .mailbox(alice), parameters: [.dsn(.ret, "HDRS"), .dsn(.envid, "QQ+2B1"),
                                                   .other(keyword: "REQUIRETLS", value: nil)])),
        ("RCPT TO:<alice@example.com> notify=failure,DELAY ORCPT=rfc822;alice@example.com",
         .rcpt(to: .mailbox(alice), parameters: [.dsn(.notify, "FAILURE,DELAY"), .dsn(.orcpt, "rfc822;alice@example.com")])),
        ("RCPT TO:<alice@example.com> NOTIFY=NEVER ORCPT=utf-8;ünï@example.com",
         .rcpt(to: .mailbox(alice), parameters: [.dsn(.notify, "NEVER"), .dsn(.orcpt, "utf-8;ünï@example.com")])),
        ("RCPT TO:<alice@example.com> X-FOO=1",
         .rcpt(to: .mailbox(alice), parameters: [.other(keyword: "X-FOO", value: "1")])),
        ("MAIL FROM:<a@b.c> BODY=binarymime", .mail(from: .mailbox(Mailbox(localPart: "a", domain: "b.c")), parameters: [.body(.binaryMIME)])),
        ("DATA", .data),
        ("data", .data),
        ("RSET", .rset),
        ("NOOP", .noop),
        ("NOOP anything at all", .noop),
        ("QUIT", .quit),
        ("VRFY alice", .vrfy("alice")),
        ("HELP", .help),
        ("HELP MAIL", .help),
        ("STARTTLS", .startTLS),
        ("AUTH PLAIN AGFsaWNl", .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNl")),
        ("auth cram-md5", .auth(mechanism: "CRAM-MD5", initialResponse: nil)),
        ("BDAT 100 LAST", .bdat(size: 100, last: true)),
        ("bdat 0 last", .bdat(size: 0, last: true)),
        ("BDAT 0", .bdat(size: 0, last: false)),
        ("BDAT  007  ", .bdat(size: 7, last: false)),
        ("BDAT 999999999999999999", .bdat(size: 999_999_999_999_999_999, last: false)),
        ("ETRN example.com", .notImplemented(verb: "ETRN")),
        ("EXPN list", .notImplemented(verb: "EXPN")),
        ("TURN", .notImplemented(verb: "TURN")),
    ]

    @Test("Valid commands parse", arguments: valid)
    func parsesValid(line: String, expected: SMTPCommand) throws {
        #expect(try SMTPCommandParser.parse(line).get() == expected)
        #expect(try SMTPCommandParser.parse(ByteBuffer(string: line)).get() == expected)
    }

    static let invalid: [(String, SMTPReply)] = [
        ("", .commandUnrecognized),
        ("FOO", .commandUnrecognized),
        ("MAILFROM:<a@b.c>", .commandUnrecognized),
        ("VERYLONGVERBTHATISNOTSMTP", .commandUnrecognized),
        ("HELO", .heloSyntax),
        ("EHLO   ", .ehloSyntax),
        ("MAIL", .mailSyntax),
        ("MAIL TO:<a@b.c>", .mailSyntax),
        ("MAIL FROM:<a@b.c", .mailSyntax),
        ("MAIL FROM:bad<", .mailSyntax),
        ("MAIL FROM:<a@b.c>junk", .mailSyntax),
        ("MAIL FROM:<a<b@c.d>", .mailSyntax),
        ("MAIL FROM:<nodomain>", .badSenderAddress),
        ("MAIL FROM:<a@>", .badSenderAddress),
        ("MAIL FROM:<@b.c>", .badSenderAddress),
        ("MAIL FROM:<a..b@c.d>", .badSenderAddress),
        ("MAIL FROM:<a@b..c>", .badSenderAddress),
        ("MAIL FROM:<a@b.c> SIZE=abc", .badParameterValue("SIZE")),
        ("MAIL FROM:<a@b.c> SIZE=", .badParameterValue("SIZE")),
        ("MAIL FROM:<a@b.c> BODY=8BIT", .badParameterValue("BODY")),
        ("MAIL FROM:<a@b.c> RET=ALL", .badParameterValue("RET")),
        ("MAIL FROM:<a@b.c> RET", .badParameterValue("RET")),
        ("MAIL FROM:<a@b.c> ENVID=a=b", .badParameterValue("ENVID")),
        ("MAIL FROM:<a@b.c> ENVID=a+2g", .badParameterValue("ENVID")),
        ("MAIL FROM:<a@b.c> ENVID=\(String(repeating: "x", count: 101))", .badParameterValue("ENVID")),
        ("MAIL FROM:<a@b.c> ENVID=", .badParameterValue("ENVID")),
        ("MAIL FROM:<a@b.c> RET=FULL RET=HDRS", .duplicateParameter("RET")),
        ("RCPT TO:<a@b.c> NOTIFY=NEVER,FAILURE", .badParameterValue("NOTIFY")),
        ("RCPT TO:<a@b.c> NOTIFY=SUCCESS,SUCCESS", .badParameterValue("NOTIFY")),
        ("RCPT TO:<a@b.c> NOTIFY=SOMETIMES", .badParameterValue("NOTIFY")),
        ("RCPT TO:<a@b.c> NOTIFY=", .badParameterValue("NOTIFY")),
        ("RCPT TO:<a@b.c> ORCPT=alice@example.com", .badParameterValue("ORCPT")),
        ("RCPT TO:<a@b.c> ORCPT=;alice@example.com", .badParameterValue("ORCPT")),
        ("RCPT TO:<a@b.c> ORCPT=rfc822;", .badParameterValue("ORCPT")),
        ("RCPT TO:<a@b.c> ORCPT=rfc822;ü@example.com", .badParameterValue("ORCPT")),
        ("BDAT", .bdatSyntax),
        ("BDAT -5", .bdatSyntax),
        ("BDAT 5 FIRST", .bdatSyntax),
        ("BDAT 5 LAST now", .bdatSyntax),
        ("BDAT 1e3", .bdatSyntax),
        ("BDAT 9999999999999999999", .bdatSyntax),
        ("MAIL FROM:<a@b.c> SMTPUTF8=yes", .badParameterValue("SMTPUTF8")),
        ("MAIL FROM:<a@b.c> SIZE=1 SIZE=2", .duplicateParameter("SIZE")),
        ("RCPT", .rcptSyntax),
        ("RCPT TO:", .badRecipientAddress),
        ("RCPT TO:<>", .badRecipientAddress),
        ("RCPT TO:<alice>", .badRecipientAddress),
        ("RCPT TO:<a@b.c> NOTIFY=NEVER notify=FAILURE", .duplicateParameter("NOTIFY")),
        ("RCPT TO:<a@b.c>\u{301}", .rcptSyntax),
        ("RCPT TO:<\"@b.c>", .rcptSyntax),
        ("RCPT TO:<a@[]>", .badRecipientAddress),
        ("RCPT TO:<postmaster2>", .badRecipientAddress),
        ("DATA now", .noParameters("DATA")),
        ("RSET x", .noParameters("RSET")),
        ("QUIT now", .noParameters("QUIT")),
        ("VRFY", .vrfySyntax),
        ("NOOP \u{0}", .invalidCharacters),
        ("HELO a\u{1B}b", .invalidCharacters),
    ]

    @Test("Malformed commands give the precise reply", arguments: invalid)
    func rejectsInvalid(line: String, expected: SMTPReply) {
        #expect(SMTPCommandParser.parse(line) == .failure(SMTPParseError(expected)))
    }

    @Test("Invalid UTF-8 and NUL bytes → 500 5.5.2")
    func rejectsBadBytes() {
        var buffer = ByteBuffer(string: "HELO ")
        buffer.writeBytes([0xC3, 0x28])
        #expect(SMTPCommandParser.parse(buffer) == .failure(SMTPParseError(.invalidCharacters)))
        #expect(SMTPCommandParser.parse(ByteBuffer(bytes: [0x4E, 0x4F, 0x00, 0x50]))
            == .failure(SMTPParseError(.invalidCharacters)))
    }

    @Test("A SIZE beyond Int.max is clamped, not a crash")
    func hugeSize() throws {
        let command = try SMTPCommandParser.parse("MAIL FROM:<> SIZE=99999999999999999999").get()
        #expect(command == .mail(from: .null, parameters: [.size(Int.max)]))
    }

    @Test("A path over 256 octets → 501")
    func longPath() {
        let local = String(repeating: "a", count: 250)
        #expect(SMTPCommandParser.parse("RCPT TO:<\(local)@example.com>") == .failure(SMTPParseError(.rcptSyntax)))
    }

    /// Lines the byte fast path must take (the commands of every message, as MTAs send them).
    static let fastPathLines = [
        "MAIL FROM:<alice@example.com>", "mail from:<>", "MAIL FROM: <alice@example.com>  ",
        "MAIL FROM:<alice@example.com> SIZE=1024 BODY=8BITMIME SMTPUTF8", "MAIL FROM:<a@b.c> size=7 body=7bit",
        "MAIL FROM:<> BODY=BINARYMIME", "MAIL FROM:<> SIZE=99999999999999999999",
        "RCPT TO:<alice@example.com>", "rcpt to:<PostMaster>", "RCPT TO:   <a.b-c+d@sub.example.com>",
        "DATA", "data  ", "RSET", "QUIT", "NOOP", "NOOP what", "EHLO client.example", "helo  client.example ",
    ]

    /// Lines near the fast path's edges, that it must leave to the full parser or parse the same.
    static let edgeLines = [
        "MAIL FROM:<a@b.c> SIZE=1 SIZE=2", "MAIL FROM:<a@b.c> BODY=8BITMIME BODY=7BIT", "MAIL FROM:<a@b.c> SMTPUTF8 SMTPUTF8",
        "MAIL FROM:<a@b.c> SIZE=", "MAIL FROM:<a@b.c> SIZE=1a", "MAIL FROM:<a@b.c> SIZE=123456789012345678901",
        "MAIL FROM:<a@b.c> BODY=", "MAIL FROM:<a@b.c> BODY", "MAIL FROM:<a@b.c> SMTPUTF8=1", "MAIL FROM:<a@b.c> SIZE=1=2",
        "MAIL FROM:<a@b.c>  SIZE=5   BODY=7BIT  ", "MAIL FROM:<a@b.c>x", "MAIL FROM:<a@b.c", "MAIL FROM:<<a@b.c>",
        "MAIL FROM:<a@b@c.d>", "MAIL FROM:<.a@b.c>", "MAIL FROM:<a.@b.c>", "MAIL FROM:<a@b.c.>", "MAIL FROM:<a@>",
        "MAIL FROM:<@b.c>", "MAIL FROM:<a@[1.2.3.4]>", "MAIL FROM:<\"q\"@b.c>", "MAIL FROM:<a\\b@c.d>", "MAIL FROM:",
        "MAIL FROM:<>x", "MAIL FROM :<a@b.c>", "MAILFROM:<a@b.c>", "MAIL\tFROM:<a@b.c>", "MAIL FROM:<a@b.c>\t",
        "RCPT TO:<>", "RCPT TO:<postmaster@b.c>", "RCPT TO:<postmaster2>", "RCPT TO:<a@b.c> NOTIFY=NEVER",
        "RCPT TO:", "RCPT TO:<a(b)@c.d>", "RCPT TO:<a@b.c> ", "RCPT TO:a@b.c", "RCPT FROM:<a@b.c>",
        "RCPT TO:<\(String(repeating: "a", count: 250))@b.c>", "RCPT TO:<\(String(repeating: "a", count: 240))@b.c>",
        "DATA x", "RSET now", "QUIT .", "EHLO", "EHLO   ", "HELO x y", "EHLO [::1]", "M@IL FROM:<a@b.c>", "DAT",
        "D\u{7F}TA", "DATA\u{7F}", "NOOP \u{1}", "EHLO ünï.example", "",
    ]

    @Test("The byte fast path parses exactly as the full parser does",
          arguments: valid.map(\.0) + invalid.map(\.0) + fastPathLines + edgeLines)
    func fastPathMatchesFullParser(line: String) {
        let buffer = ByteBuffer(string: line)
        let full = SMTPCommandParser.parseInFull(buffer)
        if let fast = buffer.withUnsafeReadableBytes(SMTPByteParser.parse) {
            #expect(full == .success(fast), "\(line)")
        }
        #expect(SMTPCommandParser.parse(buffer) == full, "\(line)")
    }

    @Test("The commands of every message take the fast path", arguments: fastPathLines)
    func fastPathTakesTheCommonForms(line: String) {
        #expect(ByteBuffer(string: line).withUnsafeReadableBytes(SMTPByteParser.parse) != nil, "\(line)")
    }

    @Test("80k without a newline does not crash the parser")
    func stress() {
        let line = "MAIL FROM:<" + String(repeating: "x", count: 80_000)
        #expect(SMTPCommandParser.parse(line) == .failure(SMTPParseError(.mailSyntax)))
    }
}
