// libFuzzer target over the command parser and the session state machine,
// with the real policy (every mode), the way the server drives them: lines up
// to the first LF, DATA content up to a lone ".", then the end of data.
//
// Build and run (`make fuzz`, or bounded in `make test`):
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING \
//       --product SinkholeFuzzer --scratch-path .build-fuzz
//   .build-fuzz/debug/SinkholeFuzzer Tests/FuzzCorpus -max_total_time=60
//
// SwiftPM links an executable's `main` to `SinkholeFuzzer_main`; in the fuzz
// build that function hands over to libFuzzer's driver. In an ordinary build
// (`swift build`) the target compiles to a program that does nothing.
//
// It checks what must hold for any input: every reply encodes to lines of
// `NNN[- ]text\r\n` with a code from 200 to 599 and no bare CR or LF inside,
// a closed session answers nothing more, and nothing traps.

import NIOCore
import SMTPProtocol
import SinkholePolicy

private let modes = Mode.allCases
private let configuration = SessionConfiguration(hostname: "fuzz.test", maxRecipients: 5, maxMessageSize: 64,
                                                 startTLS: true, authMechanisms: SASLMechanism.allCases)
// Rules at most commands, with conditions and counts, so the engine's layers
// are fuzzed too; half the inputs run without them (the byte after the first
// decides). LeakSanitizer takes the boxes of their conditions (an indirect
// enum, pointed to with tag bits in the pointers) for leaks: the Makefile
// suppresses reports from this one initializer (Tests/FuzzCorpus.lsan.supp).
private let fuzzRules: [Rule] = [
    Rule(id: "retry", commands: [.rcpt, .vrfy],
         condition: .test(field: .argument, operator: .prefix("r1"), ignoreCase: true),
         steps: [.respond(.reply(SMTPReply(code: .localError, "later"))), .pass,
                 .respond(.reply(SMTPReply(code: .mailboxUnavailable, "never")))],
         countPer: .recipient),
    Rule(id: "mail", commands: [.mail],
         condition: .any([.test(field: .argument, operator: .contains("x"), ignoreCase: false),
                          .test(field: .clientIP, operator: .cidr(CIDR("192.0.2.0/31")!), ignoreCase: false)]),
         steps: [.respond(.reply(SMTPReply(code: .serviceNotAvailable, lines: ["one", "two"])))], numberOfAnswer: 3),
    Rule(id: "subject", commands: [.endOfData],
         condition: .test(field: .header("subject"), operator: .contains("no"), ignoreCase: false),
         steps: [.respond(.reply(SMTPReply(code: .transactionFailed, enhanced: EnhancedStatusCode(5, 7, 1), "no")))]),
    Rule(id: "ruled", commands: [.helo, .ehlo, .noop, .rset, .data, .quit],
         condition: .not(.test(field: .argument, operator: .prefix("a"), ignoreCase: false)),
         steps: [.respond(.reply(SMTPReply(code: .ok, "ruled")))], probability: 30, seed: 1),
]
private let greylist = GreylistTable(settings: GreylistSettings.preset("postgrey") ?? GreylistSettings(), capacity: 4)
private let plainPolicy = PolicyConfiguration(greylist: greylist)
private let rulesPolicy = PolicyConfiguration(greylist: greylist, rules: RuleBook(rules: fuzzRules, maxKeysPerRule: 4))

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("SinkholeFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, count in
        guard let data else { return 0 }
        return fuzzOneInput(data, count)
    }
}
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: count)
    guard let first = bytes.first else { return 0 }
    // The first byte picks the mode and the client address (greylist).
    let policy = bytes.count > 1 && bytes[1] & 1 == 1 ? rulesPolicy : plainPolicy
    var decider = SessionPolicy(mode: modes[Int(first) % modes.count], configuration: policy)
    var session = SMTPSessionStateMachine(configuration: configuration, clientIP: "192.0.2.\(first % 4)")
    check(session.greeting(decider: &decider))

    var lines = bytes.dropFirst().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)[...]
    while let raw = lines.popFirst() {
        let line = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw[...]
        if session.isReceivingData {
            var size = 0
            var content = line
            while !(content.count == 1 && content.first == UInt8(ascii: ".")) {
                size += content.count + 2
                guard let next = lines.popFirst() else { return 0 }
                content = next.last == UInt8(ascii: "\r") ? next.dropLast() : next[...]
            }
            check(session.receiveEndOfData(size: size, exceededLimit: size > configuration.maxMessageSize,
                                           queueID: "0000000000000001", decider: &decider))
            continue
        }
        let wasClosed = session.isClosed
        let action: SessionAction
        if session.awaitingAuthResponse {
            check(session.receiveAuthResponse(String(decoding: line, as: UTF8.self), decider: &decider))
            continue
        }
        let parsed = SMTPCommandParser.parse(ByteBuffer(bytes: line))
        // The byte fast path must parse exactly as the full parser does.
        precondition(parsed == SMTPCommandParser.parseInFull(ByteBuffer(bytes: line)),
                     "the fast path parsed \(String(decoding: line, as: UTF8.self).debugDescription) differently")
        switch parsed {
        case .success(let command): action = session.receive(command, decider: &decider)
        case .failure(let error) where error.reply == .commandUnrecognized:
            action = session.receiveUnknown(error, decider: &decider)
        case .failure(let error): action = session.reject(error)
        }
        if wasClosed { precondition(action == .none, "a closed session answered \(action)") }
        check(action)
        if case .receiveChunk(let chunk) = action {
            // The chunk's octets, taken from the lines that follow (each with its LF).
            var left = chunk.size
            while left > 0, let next = lines.popFirst() { left -= next.count + 1 }
            check(session.receiveEndOfChunk(exceededLimit: false, queueID: "0000000000000001", decider: &decider))
        }
    }
    return 0
}

private func check(_ action: SessionAction) {
    let reply: SMTPReply
    switch action {
    case .replies(let list):
        precondition(!list.isEmpty, "no reply at all")
        return list.forEach { check(.reply($0)) }
    case .reply(let r), .replyAndClose(let r), .startData(let r), .startTLS(let r), .breakTLS(let r, _): reply = r
    case .none, .disconnect, .reset, .hang, .receiveChunk: return
    }
    precondition((200...599).contains(reply.code.value), "reply code \(reply.code)")
    var buffer = ByteBuffer()
    buffer.writeSMTPReply(reply)
    let text = Array(buffer.readableBytesView)
    precondition(text.count >= 6 && text.suffix(2) == [13, 10], "reply not CRLF-terminated")
    var start = 0
    for index in text.indices where text[index] == 10 {
        precondition(index > start && text[index - 1] == 13, "bare LF in a reply")
        let line = text[start..<(index - 1)]
        precondition(line.count >= 4 && line.prefix(3).allSatisfy { (48...57).contains($0) }
                     && (line[line.startIndex + 3] == 32 || line[line.startIndex + 3] == 45), "malformed reply line")
        precondition(!line.contains(13), "bare CR in a reply")
        start = index + 1
    }
}
