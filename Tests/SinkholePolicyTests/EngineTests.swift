import SMTPProtocol
import Synchronization
import Testing
@testable import SinkholePolicy

private func mailbox(_ address: String) -> Mailbox {
    let at = address.lastIndex(of: "@")!
    return Mailbox(localPart: String(address[..<at]), domain: String(address[address.index(after: at)...]))
}

private func rcpt(_ address: String) -> SMTPEvent { .rcpt(.mailbox(mailbox(address))) }
private func mail(_ address: String) -> SMTPEvent { .mail(.mailbox(mailbox(address)), []) }

/// Rules from YAML-like values, as the config file gives them.
private func rules(_ items: [ConfigValue], james: Bool = false) throws -> [Rule] {
    try RuleDecoder.decode(.list(items), origin: "test", james: james)
}

private func rule(_ fields: [(String, ConfigValue)]) -> ConfigValue { .map(fields) }

private func replyOnly(_ code: Int, _ text: String) -> ConfigValue {
    .map([("code", .int(code)), ("message", .string(text))])
}

@Suite("Decision engine")
struct EngineTests {
    let session = SessionSnapshot(clientIP: "192.0.2.7", heloName: "client.test",
                                  reversePath: .mailbox(mailbox("sender@example.com")))

    func policy(_ rules: [Rule], mode: Mode = .accept, triggers: Bool = true, profile: ListenerProfile? = nil,
                clock: ManualClock = ManualClock(), seed: UInt64 = 1) -> SessionPolicy {
        SessionPolicy(mode: mode, configuration: PolicyConfiguration(
            rules: RuleBook(rules: rules, random: SeededRandomSource(seed: seed), now: { clock.now }),
            clientTriggers: triggers, now: { clock.now }, random: SeededRandomSource(seed: seed)), profile: profile)
    }

    @Test("Layers: a rule beats a client trigger, which beats the profile, which beats the mode")
    func precedence() throws {
        let list = try rules([rule([("command", "RCPT"), ("condition", .map([("operator", "contains"), ("matchingValue", "rule")])),
                                    ("response", replyOnly(552, "Rule says no"))])])
        var p = policy(list, mode: .bounce, profile: ListenerProfile(name: "x", commandDelay: .seconds(1)))
        // Only the trigger matches.
        #expect(p.decide(rcpt("rcpt451@x.test"), session).action
            == .reply(SMTPReply(code: ReplyCode(451)!, "Requested action aborted: local error in processing")))
        #expect(p.lastRecord?.layer == .trigger)
        let byRule = p.decide(rcpt("rule@x.test"), session)
        #expect(byRule.action == .reply(SMTPReply(code: ReplyCode(552)!, "Rule says no")))
        #expect(p.lastRecord?.layer == .rule && p.lastRecord?.source == "rule-1")
        // Neither: the mode (bounce), delayed by the profile's command delay.
        let byMode = p.decide(rcpt("plain@x.test"), session)
        #expect(byMode.action == .reply(.bounceDefault))
        #expect(byMode.delivery.delay == .seconds(1))
        #expect(p.lastRecord?.layer == .mode)
    }

    @Test("A rule replacing a trigger: rcpt550 is answered by the rule when both match")
    func ruleBeatsTrigger() throws {
        let list = try rules([rule([("command", "RCPT TO"), ("condition", .map([("operator", "matchAll")])),
                                    ("response", replyOnly(250, "OK by rule"))])])
        var p = policy(list)
        #expect(p.decide(rcpt("rcpt550@x.test"), session).action == .reply(SMTPReply(code: .ok, "OK by rule")))
    }

    @Test("Operators and fields", arguments: [
        ("contains", "argument", "@cat", "a@cat.test", true),
        ("contains", "argument", "@CAT", "a@cat.test", false),
        ("equals", "recipient", "a@cat.test", "a@cat.test", true),
        ("equals", "recipient", "a@cat.tes", "a@cat.test", false),
        ("prefix", "recipient", "full", "full@x.test", true),
        ("suffix", "recipient", "@x.test", "full@x.test", true),
        ("suffix", "recipient", "@y.test", "full@x.test", false),
        ("regex", "recipient", "^f.ll@", "full@x.test", true),
        ("regex", "recipient", "^g", "full@x.test", false),
        ("equals", "client_ip", "192.0.2.0/24", "a@x.test", true),
        ("equals", "client_ip", "198.51.100.0/24", "a@x.test", false),
        ("cidr", "client_ip", "192.0.2.0/30", "a@x.test", false),
        ("cidr", "client_ip", "192.0.2.4/30", "a@x.test", true),
        ("equals", "helo", "client.test", "a@x.test", true),
        ("equals", "sender", "sender@example.com", "a@x.test", true),
        ("prefix", "sender", "nobody", "a@x.test", false),
    ])
    func operators(op: String, field: String, value: String, address: String, fires: Bool) throws {
        let list = try rules([rule([("command", "RCPT"), ("condition", .map([("operator", .string(op)), ("field", .string(field)), ("matchingValue", .string(value))])),
                                    ("response", replyOnly(550, "matched"))])])
        var p = policy(list, triggers: false)
        let decision = p.decide(rcpt(address), session)
        #expect((decision.action == .reply(SMTPReply(code: .mailboxUnavailable, "matched"))) == fires)
    }

    @Test("not, all and any combine conditions; ignoreCase folds both sides")
    func combinators() throws {
        let condition: ConfigValue = .map([("all", .list([
            .map([("operator", "suffix"), ("field", "recipient"), ("matchingValue", "@X.TEST"), ("ignoreCase", .bool(true))]),
            .map([("not", .map([("operator", "prefix"), ("field", "recipient"), ("matchingValue", "vip")]))]),
            .map([("any", .list([
                .map([("operator", "equals"), ("field", "helo"), ("matchingValue", "other")]),
                .map([("operator", "equals"), ("field", "client_ip"), ("matchingValue", "192.0.2.7")]),
            ]))]),
        ]))])
        let list = try rules([rule([("command", "RCPT"), ("condition", condition), ("response", replyOnly(451, "combined"))])])
        var p = policy(list, triggers: false)
        #expect(p.decide(rcpt("a@x.test"), session).action == .reply(SMTPReply(code: .localError, "combined")))
        #expect(p.decide(rcpt("vip@x.test"), session).action == .proceed)
        #expect(p.decide(rcpt("a@y.test"), session).action == .proceed)
    }

    @Test("size and header fields at the final dot")
    func messageFields() throws {
        let list = try rules([
            rule([("id", "big"), ("command", "."), ("condition", .map([("operator", "gt"), ("field", "size"), ("matchingValue", "1K")])),
                  ("response", replyOnly(552, "too big for this test"))]),
            rule([("id", "subject"), ("command", "END-OF-DATA"),
                  ("condition", .map([("operator", "contains"), ("field", "header:Subject"), ("matchingValue", "spam")])),
                  ("response", replyOnly(554, "no spam"))]),
        ])
        var p = policy(list)
        #expect(p.wantsMessage)
        #expect(p.decide(.endOfData(size: 2000, message: "Subject: hi\r\n\r\nbody"), session).action
            == .reply(SMTPReply(code: .exceededStorage, "too big for this test")))
        #expect(p.decide(.endOfData(size: 20, message: "From: a\r\nSubject: buy\r\n  spam now\r\n\r\nbody"), session).action
            == .reply(SMTPReply(code: .transactionFailed, "no spam")))
        #expect(p.decide(.endOfData(size: 20, message: "Subject: fine\r\n\r\nspam in the body"), session).action == .proceed)
    }

    @Test("numberOfAnswer counts globally: 1000 sessions racing for 5 answers get exactly 5")
    func exactCountsUnderConcurrency() async throws {
        let list = try rules([rule([("command", "RCPT"), ("condition", .map([("operator", "matchAll")])),
                                    ("response", replyOnly(451, "five")), ("numberOfAnswer", .int(5))])])
        let configuration = PolicyConfiguration(rules: RuleBook(rules: list), clientTriggers: false)
        let fired = await withTaskGroup(of: Int.self) { group in
            for index in 0..<1000 {
                group.addTask {
                    var p = SessionPolicy(mode: .accept, configuration: configuration)
                    let snapshot = SessionSnapshot(clientIP: "192.0.2.\(index % 250)")
                    if case .reply = p.decide(rcpt("r\(index)@x.test"), snapshot).action { return 1 }
                    return 0
                }
            }
            return await group.reduce(0, +)
        }
        #expect(fired == 5)
        #expect(configuration.rules.answers(ruleID: "rule-1") == 5)
    }

    @Test("A sequence per recipient: fail twice, then pass, for each recipient separately")
    func sequencePerRecipient() throws {
        let list = try rules([rule([("command", "RCPT"), ("condition", .map([("operator", "matchAll")])),
                                    ("responses", .list([.int(451), .int(451), "pass"])), ("count_per", "recipient")])])
        var p = policy(list, triggers: false)
        func answer(_ address: String) -> Int? {
            if case .reply(let reply) = p.decide(rcpt(address), session).action { return reply.code.value }
            return nil
        }
        #expect(answer("a@x.test") == 451)
        #expect(answer("b@x.test") == 451)
        #expect(answer("a@x.test") == 451)
        #expect(answer("a@x.test") == nil)
        #expect(answer("A@X.TEST") == nil, "keys are case-insensitive")
        #expect(answer("b@x.test") == 451)
        #expect(answer("b@x.test") == nil)
    }

    @Test("count_per client_ip, sender and triplet keep separate counts")
    func countKeys() throws {
        for key in ["client_ip", "sender", "triplet"] {
            let list = try rules([rule([("command", "RCPT"), ("condition", .map([("operator", "matchAll")])),
                                        ("response", replyOnly(450, "once")), ("numberOfAnswer", .int(1)), ("countPer", .string(key))])])
            var p = policy(list, triggers: false)
            #expect(p.decide(rcpt("a@x.test"), session).action != .proceed, "\(key): first")
            #expect(p.decide(rcpt("a@x.test"), session).action == .proceed, "\(key): second")
            let other = SessionSnapshot(clientIP: "198.51.100.1", reversePath: .mailbox(mailbox("other@example.com")))
            #expect(p.decide(rcpt("a@x.test"), other).action != .proceed, "\(key): another client and sender")
        }
    }

    @Test("A rule's ttl ends it, on the injected clock")
    func ttl() throws {
        let clock = ManualClock()
        let list = try rules([rule([("command", "MAIL"), ("condition", .map([("operator", "matchAll")])),
                                    ("response", replyOnly(421, "for a minute")), ("ttl", "60s")])])
        var p = policy(list, triggers: false, clock: clock)
        #expect(p.decide(mail("a@x.test"), session).action == .reply(SMTPReply(code: .serviceNotAvailable, "for a minute")))
        clock.advance(by: .seconds(61))
        #expect(p.decide(mail("a@x.test"), session).action == .proceed)
    }

    @Test("probability with a seed replays the same answers")
    func seededProbability() throws {
        let list = try rules([rule([("command", "RCPT"), ("condition", .map([("operator", "matchAll")])),
                                    ("response", replyOnly(451, "sometimes")), ("probability", .double(30)), ("seed", .int(42))])])
        func run() -> [Bool] {
            var p = policy(list, triggers: false)
            return (0..<200).map { _ in p.decide(rcpt("a@x.test"), session).action != .proceed }
        }
        let first = run()
        #expect(first == run())
        let fired = first.filter { $0 }.count
        #expect(fired > 30 && fired < 90, "about 30 % of 200, saw \(fired)")
    }

    @Test("Actions and delivery: disconnect, reset, hang, reply_and_close, delay, dribble")
    func actions() throws {
        let list = try rules([
            rule([("command", "HELO"), ("response", .map([("action", "disconnect")]))]),
            rule([("command", "EHLO"), ("response", .map([("action", "reset"), ("delay", "2s")]))]),
            rule([("command", "NOOP"), ("response", .map([("action", "hang")]))]),
            rule([("command", "RSET"), ("response", .map([("code", .int(250)), ("action", "reply_and_close"), ("dribble", .int(5))]))]),
            rule([("command", "VRFY"), ("response", .map([("code", .int(252)), ("delay", .map([("min", "1s"), ("max", "2s")]))]))]),
        ])
        var p = policy(list, triggers: false)
        #expect(p.decide(.helo("x"), session).action == .disconnect)
        let ehlo = p.decide(.ehlo("x"), session)
        #expect(ehlo.action == .reset && ehlo.delivery.delay == .seconds(2))
        #expect(p.decide(.noop, session).action == .hang)
        let rset = p.decide(.rset, session)
        #expect(rset.delivery.bytesPerSecond == 5)
        if case .replyAndClose(let reply) = rset.action { #expect(reply.code == .ok && reply.lines == ["OK"]) } else { Issue.record("\(rset)") }
        for _ in 0..<20 {
            let delay = try #require(p.decide(.vrfy("x"), session).delivery.delay)
            #expect(delay >= .seconds(1) && delay <= .seconds(2))
        }
    }

    @Test("A response with only delay, dribble or split slows whatever the later layers answer")
    func slowOnly() throws {
        let list = try rules([rule([("command", "RCPT"), ("response", .map([("delay", "2s"), ("dribble", .int(10))]))])])
        var p = policy(list, mode: .defer)
        let decision = p.decide(rcpt("a@x.test"), session)
        #expect(decision.action == .reply(.deferDefault), "the mode still answers")
        #expect(decision.delivery.delay == .seconds(2) && decision.delivery.bytesPerSecond == 10)
        #expect(throws: RuleError.self) { try rules([rule([("command", "RCPT"), ("response", .map([("message", "no code")]))])]) }
    }

    @Test("James's behaviour JSON loads verbatim; its DATA answers after the message")
    func jamesJSON() throws {
        let james: ConfigValue = .list([
            .map([("command", "RCPT TO"), ("condition", .map([("operator", "contains"), ("matchingValue", "@cat.construction")])),
                  ("response", .map([("code", .int(501)), ("message", "5.1.3 Bad recipient address syntax")])), ("numberOfAnswer", .int(3))]),
            .map([("condition", .map([("operator", "matchAll")])), ("response", .map([("code", .int(452)), ("message", "Full")])),
                  ("command", "DATA"), ("numberOfAnswer", .null)]),
        ])
        let list = try RuleDecoder.decode(james, origin: "james", james: true)
        #expect(list[0].commands == [.rcpt] && list[0].numberOfAnswer == 3)
        #expect(list[1].commands == [.endOfData] && list[1].numberOfAnswer == nil)
        var p = policy(list, triggers: false)
        #expect(p.decide(rcpt("tom@cat.construction"), session).action
            == .reply(SMTPReply(code: .parameterSyntaxError, "5.1.3 Bad recipient address syntax")))
        #expect(p.decide(.data, session).action == .proceed)
        #expect(p.decide(.endOfData(size: 3, message: nil), session).action == .reply(SMTPReply(code: .insufficientStorage, "Full")))
    }

    @Test("smtp-sink's dice: a multiple of the delay (possibly none), more as the odds rise")
    func dice() throws {
        let low = [Rule(id: "d", commands: [.rcpt], steps: [.delayOnly(.dice(unit: .seconds(1), odds: 1))])]
        var p = policy(low, triggers: false)
        for _ in 0..<20 {
            let delay = try #require(p.decide(rcpt("a@x.test"), session).delivery.delay)
            #expect(delay == .zero || delay == .seconds(1), "odds 1: almost always no roll below it, so no wait")
        }
        let high = [Rule(id: "d", commands: [.rcpt], steps: [.delayOnly(.dice(unit: .seconds(1), odds: 99))])]
        var q = policy(high, triggers: false)
        let total = (0..<50).reduce(Duration.zero) { sum, _ in sum + (q.decide(rcpt("a@x.test"), session).delivery.delay ?? .zero) }
        #expect(total > .seconds(50 * 20), "odds 99: about 100 rolls each, saw \(total)")
    }
}

@Suite("Rule loading")
struct RuleLoadingTests {
    @Test("Every malformed rule is refused with one line naming the rule and the field", arguments: [
        (rule([("command", "RCPT")]), "rule #1: response: is required"),
        (rule([("command", "SEND"), ("response", replyOnly(550, "x"))]), "rule #1: command: unknown command \"SEND\""),
        (rule([("id", "r"), ("command", "RCPT"), ("response", replyOnly(700, "x"))]), "rule r: response.code: expected a reply code from 200 to 599"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", replyOnly(354, "x"))]), "rule r: response.code: 354 is DATA's go-ahead"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", replyOnly(550, "x")), ("colour", "red")]), "rule r: colour: unknown field"),
        (rule([("id", "r"), ("command", "RCPT"), ("condition", .map([("operator", "like"), ("matchingValue", "x")])), ("response", replyOnly(550, "x"))]),
         "rule r: condition.operator: unknown operator \"like\""),
        (rule([("id", "r"), ("command", "RCPT"), ("condition", .map([("operator", "regex"), ("matchingValue", "([")])), ("response", replyOnly(550, "x"))]),
         "rule r: condition.matchingValue: the regex \"([\" does not compile"),
        (rule([("id", "r"), ("command", "RCPT"), ("condition", .map([("operator", "contains")])), ("response", replyOnly(550, "x"))]),
         "rule r: condition.matchingValue: is required for operator contains"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", replyOnly(550, "x")), ("numberOfAnswer", .int(0))]), "rule r: numberOfAnswer: expected a whole number above 0"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", replyOnly(550, "x")), ("probability", .int(120))]), "rule r: probability: expected a percentage"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", .map([("code", .int(550)), ("enhancedCode", "4.1.1")]))]), "rule r: response.enhancedCode: class 4 does not match reply code 550"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", .map([("action", "explode")]))]), "rule r: response.action: unknown action"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", .map([("action", "hang"), ("code", .int(550))]))]), "rule r: response.code: action hang sends no reply"),
        (rule([("id", "r"), ("command", "CONTENT"), ("response", replyOnly(250, "x"))]), "rule r: response.code: 250 cannot answer part-way"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", replyOnly(550, "x")), ("count_per", "planet")]), "rule r: count_per: expected one of"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", replyOnly(550, "x")), ("ttl", "soon")]), "rule r: ttl: expected a duration"),
        (rule([("id", "r"), ("command", "RCPT"), ("response", .map([("code", .int(550)), ("delay", "later")]))]), "rule r: response.delay: expected a duration"),
    ])
    func malformed(value: ConfigValue, message: String) {
        do {
            _ = try RuleDecoder.decode(.list([value]), origin: "test")
            Issue.record("accepted: \(value)")
        } catch {
            #expect(error.description.hasPrefix(message), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test("Two rules with one id are refused")
    func duplicateIDs() {
        let item = rule([("id", "same"), ("command", "RCPT"), ("response", replyOnly(550, "x"))])
        #expect(throws: RuleError.self) { try RuleDecoder.decode(.list([item, item]), origin: "test") }
    }
}

@Suite("Client triggers")
struct ClientTriggerTests {
    @Test("Address grammar, as BadSMTP reads it", arguments: [
        ("MAIL500@EXAMPLE.COM", "mail", 500, nil as String?),
        ("rcpt550_5.1.1@x.test", "rcpt", 550, "5.1.1"),
        ("data554@x.test", "data", 554, nil),
        ("starttls454@x.test", "starttls", 454, nil),
        ("quit421@x.test", "quit", 421, nil),
    ])
    func grammar(address: String, verb: String, code: Int, enhanced: String?) throws {
        let trigger = try #require(ClientTriggers.parse(address: address))
        #expect(trigger.verb == verb && trigger.code == code)
        #expect(trigger.enhanced?.description == enhanced)
    }

    @Test("Not triggers", arguments: ["mail4521@x", "mail45@x", "mail550_57@x", "test452@x", "xmail550@x", "mail550+x@x",
                                      "\"mail550\"@x", "rcpt550_5.1@x", "rcpt550_5.1.1.1@x", "alice@x", "rcpt@x"])
    func notTriggers(address: String) {
        #expect(ClientTriggers.parse(address: address) == nil)
    }

    @Test("sinkhole's own: del<seconds> and drop")
    func additions() throws {
        let delayed = try #require(ClientTriggers.parse(address: "rcptdel5@x.test"))
        #expect(delayed.code == nil && delayed.delay == .seconds(5))
        let both = try #require(ClientTriggers.parse(address: "rcpt451del2@x.test"))
        #expect(both.code == 451 && both.delay == .seconds(2))
        let drop = try #require(ClientTriggers.parse(address: "datadrop@x.test"))
        #expect(drop.drop && drop.verb == "data")
    }

    @Test("HELO names: helo<code>. only")
    func helo() {
        #expect(ClientTriggers.heloCode("helo421.example.com") == 421)
        #expect(ClientTriggers.heloCode("EHLO550.x") == 550)
        #expect(ClientTriggers.heloCode("helo500example.com") == nil)
        #expect(ClientTriggers.heloCode("helo5001.x") == nil)
        #expect(ClientTriggers.heloCode("helo50.x") == nil)
    }

    @Test("EHLO keywords from the first label, as BadSMTP's tests read them")
    func keywords() {
        let a = ClientTriggers.ehloKeywords("size10000-no8bit-authplain.example.com")
        #expect(a.size == 10000 && a.no8BitMIME && !a.noPipelining)
        let b = ClientTriggers.ehloKeywords("nosize-nopipelining-authlogin.x")
        #expect(b.noSize && b.noPipelining && b.size == nil)
        let c = ClientTriggers.ehloKeywords("dlay3-noenhancedstatuscodes.x")
        #expect(c.delay == .seconds(3) && c.noEnhancedStatusCodes)
        #expect(ClientTriggers.ehloKeywords("dlay0.x").delay == nil)
        #expect(ClientTriggers.ehloKeywords("dlay999.x").delay == .seconds(605))
        #expect(ClientTriggers.ehloKeywords("client.nopipelining.test").isEmpty, "only the first label counts")
        #expect(ClientTriggers.ehloKeywords("xrejectedx.test").reject)
    }

    @Test("Armed triggers fire at their verb, survive RSET, and clear after a message")
    func armed() {
        var p = SessionPolicy(mode: .accept, configuration: PolicyConfiguration())
        let s = SessionSnapshot(clientIP: "192.0.2.1", extended: true)
        _ = p.decide(.ehlo("client.test"), s)
        #expect(p.decide(mail("data554@x.test"), s).action == .proceed)
        #expect(p.decide(.rset, s).action == .proceed)
        #expect(p.decide(.data, s).action == .reply(SMTPReply(code: .transactionFailed, "Transaction failed")))
        #expect(p.decide(mail("noop451@x.test"), s).action == .proceed)
        #expect(p.decide(.noop, s).action == .reply(SMTPReply(code: .localError, "Requested action aborted: local error in processing")))
        #expect(p.decide(.data, s).action == .proceed, "a new MAIL replaced the data trigger")
        _ = p.decide(.endOfData(size: 1, message: nil), s)
        #expect(p.decide(.noop, s).action == .proceed, "a completed message clears what MAIL armed")
    }

    @Test("Enhanced codes only after EHLO without noenhancedstatuscodes")
    func enhanced() {
        var p = SessionPolicy(mode: .accept, configuration: PolicyConfiguration())
        let s = SessionSnapshot(clientIP: "192.0.2.1")
        _ = p.decide(.helo("client.test"), s)
        #expect(p.decide(rcpt("rcpt550_5.1.1@x.test"), s).action == .reply(SMTPReply(code: .mailboxUnavailable, "Requested action not taken: mailbox unavailable")))
        _ = p.decide(.ehlo("client.test"), s)
        #expect(p.decide(rcpt("rcpt550_5.1.1@x.test"), s).action
            == .reply(SMTPReply(code: .mailboxUnavailable, enhanced: EnhancedStatusCode(5, 1, 1), "Requested action not taken: mailbox unavailable")))
        _ = p.decide(.ehlo("noenhancedstatuscodes.test"), s)
        #expect(p.decide(rcpt("rcpt550_5.1.1@x.test"), s).action == .reply(SMTPReply(code: .mailboxUnavailable, "Requested action not taken: mailbox unavailable")))
    }

    @Test("Triggers off: addresses are only addresses")
    func off() {
        var p = SessionPolicy(mode: .accept, configuration: PolicyConfiguration(clientTriggers: false))
        #expect(p.decide(rcpt("rcpt550@x.test"), SessionSnapshot(clientIP: nil)).action == .proceed)
    }
}

@Suite("Greylisting")
struct GreylistSettingsTests {
    @Test("Postgrey: triplet, 300 s delay, Postfix's rendering of its reply")
    func postgrey() throws {
        let settings = try #require(GreylistSettings.preset("postgrey"))
        let table = GreylistTable(settings: settings)
        let clock = ManualClock()
        let (first, left) = table.check(clientIP: "192.0.2.77", sender: "a+list@example.com", recipient: "kas@threefound.com", now: clock.now)
        #expect(first == .new && left == 300)
        #expect(settings.reply(recipient: "kas@threefound.com", secondsLeft: left).description
            == "450 4.2.0 <kas@threefound.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/threefound.com.html\r\n")
        clock.advance(by: .seconds(100))
        #expect(table.check(clientIP: "192.0.2.77", sender: "a@example.com", recipient: "kas@threefound.com", now: clock.now).0 == .tooSoon)
        clock.advance(by: .seconds(210))
        // Another host of the same /24, the same sender without its +extension: one triplet.
        #expect(table.check(clientIP: "192.0.2.99", sender: "a+other@example.com", recipient: "kas@threefound.com", now: clock.now).0 == .passed)
        #expect(table.check(clientIP: "198.51.100.1", sender: "a@example.com", recipient: "kas@threefound.com", now: clock.now).0 == .new)
    }

    @Test("milter-greylist's reply counts down HH:MM:SS; sqlgrey's names its delay")
    func texts() throws {
        let milter = try #require(GreylistSettings.preset("milter-greylist"))
        #expect(milter.reply(recipient: "a@x", secondsLeft: 1799).description == "451 4.7.1 Greylisting in action, please come back in 00:29:59\r\n")
        let sqlgrey = try #require(GreylistSettings.preset("sqlgrey"))
        #expect(sqlgrey.reply(recipient: "a@x", secondsLeft: 300).description == "450 4.7.1 <a@x>: Recipient address rejected: Greylisted for 5 minutes\r\n")
    }

    @Test("Auto-whitelist: after N passes the client skips greylisting")
    func autoWhitelist() {
        var settings = GreylistSettings()
        settings.key = .triplet
        settings.autoWhitelist = 1
        settings.delay = .seconds(10)
        settings.maxAge = .seconds(86400)
        settings.retryWindow = .seconds(86400)
        let table = GreylistTable(settings: settings)
        let clock = ManualClock()
        #expect(table.check(clientIP: "192.0.2.1", sender: "s@x", recipient: "a@y", now: clock.now).0 == .new)
        clock.advance(by: .seconds(11))
        #expect(table.check(clientIP: "192.0.2.1", sender: "s@x", recipient: "a@y", now: clock.now).0 == .passed)
        #expect(table.check(clientIP: "192.0.2.1", sender: "other@x", recipient: "b@y", now: clock.now).0 == .whitelisted)
    }

    @Test("A retry past the retry window starts over")
    func retryWindow() {
        var settings = GreylistSettings()
        settings.delay = .seconds(5)
        settings.retryWindow = .seconds(60)
        let table = GreylistTable(settings: settings)
        let clock = ManualClock()
        #expect(table.check(clientIP: "192.0.2.1", sender: "", recipient: "", now: clock.now).0 == .new)
        clock.advance(by: .seconds(61))
        #expect(table.check(clientIP: "192.0.2.1", sender: "", recipient: "", now: clock.now).0 == .new)
    }

    @Test("Networks and sender normalisation")
    func normalisation() {
        #expect(GreylistTable.network("192.0.2.77", v4: 24, v6: 64) == "192.0.2.0/24")
        #expect(GreylistTable.network("2001:db8:1:2:3::4", v4: 24, v6: 64) == "2001:db8:1:2:0:0:0:0/64")
        #expect(GreylistTable.normaliseSender("prvs=1234abcd=User+tag@Example.com") == "user@example.com")
        #expect(GreylistTable.normaliseSender("bounce-12345-678@list.example") == "bounce-#-#@list.example")
    }
}
