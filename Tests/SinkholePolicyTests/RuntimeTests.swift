import SMTPProtocol
import Testing
@testable import SinkholePolicy

private func behavior(_ fields: [(String, ConfigValue)]) -> ConfigValue { .map(fields) }

private let rcpt421Once = behavior([
    ("command", "RCPT TO"),
    ("condition", .map([("operator", "contains"), ("matchingValue", "bob@")])),
    ("response", .map([("code", .int(421)), ("message", "Service not available")])),
    ("numberOfAnswer", .int(1)),
])

@Suite("Runtime rules and captured mail")
struct RuntimeTests {
    @Test("James's behaviour JSON: what James accepts, and what it refuses")
    func jamesParsing() throws {
        let parsed = try JamesBehavior.parseList(.list([rcpt421Once]))
        #expect(parsed == [JamesBehavior(command: "RCPT TO", conditionOperator: "contains", matchingValue: "bob@",
                                         code: 421, message: "Service not available", numberOfAnswer: 1)])
        // "501" as a string is coerced, as Jackson does.
        let coerced = try JamesBehavior.parseList(.list([behavior([
            ("command", "MAIL FROM"), ("condition", .map([("operator", "matchAll")])),
            ("response", .map([("code", "501"), ("message", "nope")])), ("numberOfAnswer", .null),
        ])]))
        #expect(coerced.first?.code == 501 && coerced.first?.numberOfAnswer == nil)

        let refused: [ConfigValue] = [
            rcpt421Once.replacing("command", with: "rcpt to"),
            rcpt421Once.replacing("command", with: "RCPT_TO"),
            rcpt421Once.replacing("numberOfAnswer", with: .int(0)),
            rcpt421Once.replacing("response", with: .map([("code", .int(454)), ("message", "x")])),
            rcpt421Once.replacing("response", with: .map([("code", .int(250))])),
            rcpt421Once.replacing("condition", with: .map([("operator", "regex"), ("matchingValue", "x")])),
            rcpt421Once.replacing("condition", with: .map([("operator", "contains")])),
            rcpt421Once.replacing("condition", with: .map([("operator", "matchAll"), ("matchingValue", "x")])),
            rcpt421Once.replacing("condition", with: .map([("operator", "matchAll"), ("matchingValue", .null)])),
            rcpt421Once.adding("remaining", .int(3)),
            rcpt421Once.removing("response"),
            rcpt421Once.removing("condition"),
            .string("not a behaviour"),
        ]
        for value in refused {
            #expect(throws: JamesBehavior.Invalid.self, "\(value)") { try JamesBehavior.parseList(.list([value])) }
        }
        #expect(throws: JamesBehavior.Invalid.self) { try JamesBehavior.parseList(rcpt421Once) }
    }

    @Test("A behaviour with answers used up is no longer listed; a new PUT counts afresh")
    func liveBehaviors() throws {
        let runtime = try RuntimeRules()
        try runtime.replaceBehaviors(try JamesBehavior.parseList(.list([rcpt421Once])))
        var policy = SessionPolicy(mode: .accept, configuration: PolicyConfiguration(runtime: runtime))
        let bob = SMTPEvent.rcpt(.mailbox(Mailbox(localPart: "bob", domain: "example.com")))
        let session = SessionSnapshot(clientIP: "192.0.2.1")
        #expect(runtime.liveBehaviors.count == 1)
        #expect(policy.decide(bob, session).action == .reply(SMTPReply(code: ReplyCode(421)!, "Service not available")))
        #expect(runtime.liveBehaviors.isEmpty)
        #expect(policy.decide(bob, session).action == .proceed)
        try runtime.replaceBehaviors(try JamesBehavior.parseList(.list([rcpt421Once])))
        #expect(policy.decide(bob, session).action.takesEffect == false)
        try runtime.replaceBehaviors([])
        #expect(policy.decide(bob, session).action == .proceed)
    }

    @Test("Extensions join the EHLO reply, whatever decided the EHLO")
    func extensions() throws {
        let runtime = try RuntimeRules()
        var policy = SessionPolicy(mode: .accept, configuration: PolicyConfiguration(runtime: runtime))
        let session = SessionSnapshot(clientIP: "192.0.2.1")
        #expect(policy.decide(.ehlo("c"), session).adjustments == nil)
        runtime.replaceExtensions(["DSN", "XYZ"])
        let adjustments = policy.decide(.ehlo("c"), session).adjustments
        // DSN is offered already: said once, where sinkhole says it.
        #expect(adjustments?.applied(to: SessionCapabilities(maxMessageSize: 10)).keywords.suffix(4)
            == ["DSN", "CHUNKING", "BINARYMIME", "XYZ"])
        runtime.replaceExtensions([])
        #expect(policy.decide(.ehlo("c"), session).adjustments == nil)
    }

    private func mail(_ n: Int, bytes: Int = 10) -> CapturedMail {
        CapturedMail(queueID: "Q\(n)", receivedAt: 0, from: "a@example.com", mailParameters: [],
                     recipients: [.init(address: "b@example.com")], clientIP: "192.0.2.1", helo: "c",
                     listener: "", message: Array(repeating: 65, count: bytes))
    }

    @Test("The store keeps the newest within its count and byte budgets, and drains in one step")
    func store() {
        let store = MailStore(maxMessages: 3, maxBytes: 4096)
        for n in 1...5 { store.add(mail(n)) }
        #expect(store.all.map(\.queueID) == ["Q3", "Q4", "Q5"])
        #expect(store.statistics.evicted == 2)
        store.add(mail(6, bytes: 3500))
        #expect(store.all.map(\.queueID) == ["Q6"], "the big one pushes the others out")
        #expect(store.drain().map(\.queueID) == ["Q6"])
        #expect(store.count == 0 && store.all.isEmpty)
        store.add(mail(7))
        #expect(store.all.first?.sequence == 7)
    }

    @Test("Messages being received draw on a budget of their own")
    func reservations() {
        let store = MailStore(maxMessages: 10, maxBytes: 1000)
        #expect(store.reserve(600, total: 600))
        #expect(!store.reserve(600, total: 600), "the second would pass the in-flight budget")
        #expect(!store.reserve(10, total: 1001), "one message over the whole budget never fits")
        store.release(600)
        #expect(store.reserve(1000, total: 1000))
    }
}

extension ConfigValue {
    fileprivate func replacing(_ key: String, with value: ConfigValue) -> ConfigValue {
        guard case .map(let fields) = self else { return self }
        return .map(fields.map { $0.0 == key ? ($0.0, value) : $0 })
    }
    fileprivate func adding(_ key: String, _ value: ConfigValue) -> ConfigValue {
        guard case .map(let fields) = self else { return self }
        return .map(fields + [(key, value)])
    }
    fileprivate func removing(_ key: String) -> ConfigValue {
        guard case .map(let fields) = self else { return self }
        return .map(fields.filter { $0.0 != key })
    }
}
