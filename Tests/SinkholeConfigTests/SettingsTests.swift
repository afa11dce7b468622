import Foundation
import SMTPProtocol
import SinkholePolicy
import Testing
@testable import SinkholeConfig

private func settings(flags: [String: [String]] = [:], environment: [String: String] = [:],
                      file: String? = nil) throws -> Settings {
    var layers = SettingLayers(flags: flags, environment: environment)
    if let file {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-\(UUID().uuidString).yaml").path
        try file.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try layers.readFile(path, knownKeys: knownKeys)
    }
    return try Settings(layers, defaultHostname: "test.host")
}

private let knownKeys: Set<String> = [
    "listen", "mode", "rules", "hard-reject", "soft-reject", "disconnect", "close", "delay", "hard-reply", "soft-reply",
    "data-delay", "client-triggers", "greylist-preset", "greylist-key", "greylist-delay", "greylist-reply",
    "greylist-window", "greylist-answer", "max-errors", "seed",
]

private func error(_ body: () throws -> Settings) -> String {
    do {
        _ = try body()
        return "no error"
    } catch {
        return "\(error)"
    }
}

@Suite("Settings")
struct SettingsTests {
    @Test("Precedence: flags, then environment, then the config file, then defaults")
    func precedence() throws {
        let file = "max-errors: 3\nmode: bounce\n"
        #expect(try settings(file: file).maxErrors == 3)
        #expect(try settings(environment: ["SINKHOLE_MAX_ERRORS": "4"], file: file).maxErrors == 4)
        #expect(try settings(flags: ["max-errors": ["5"]], environment: ["SINKHOLE_MAX_ERRORS": "4"], file: file).maxErrors == 5)
        #expect(try settings().maxErrors == SMTPDefaults.maxErrors)
        #expect(try settings(file: file).mode?.origin.hasSuffix(".yaml") == true)
    }

    @Test("A listen address carries its profile; the environment's commas are put back together")
    func listenProfiles() throws {
        let flags = try settings(flags: ["listen": ["127.0.0.1:2526,greeting-delay=30s,name=slow", "[::1]:2527"]])
        #expect(flags.listen.count == 2)
        #expect(flags.listen[0].profile?.greetingDelay == .seconds(30))
        #expect(flags.listen[0].profile?.name == "slow")
        #expect(flags.listen[1].profile == nil && flags.listen[1].address.description == "[::1]:2527")
        let env = try settings(environment: ["SINKHOLE_LISTEN": "127.0.0.1:2526,drop-after=10s,mode=bounce,127.0.0.1:2527"])
        #expect(env.listen.map(\.address.port) == [2526, 2527])
        #expect(env.listen[0].profile?.dropAfter == .seconds(10) && env.listen[0].profile?.mode == .bounce)
        #expect(error { try settings(flags: ["listen": ["127.0.0.1:2526,louder"]]) }.contains("unknown listener option \"louder\""))
    }

    @Test("The config file's sections: rules, james-behaviors, listeners")
    func sections() throws {
        let s = try settings(file: """
        rules:
          - {id: a, command: RCPT, response: {code: 550}}
        james-behaviors:
          - {command: DATA, condition: {operator: matchAll}, response: {code: 552, message: Full}}
        listeners:
          - {listen: "127.0.0.1:2600", greeting-delay: 2s}
          - listen: 127.0.0.1:2601
            rules: [{command: MAIL, response: {code: 421}}]
        """)
        #expect(s.engine.rules.map(\.id) == ["a", "rule-1"])
        #expect(s.engine.rules[1].commands == [.endOfData])
        #expect(s.listen.map(\.address.port) == [2600, 2601])
        #expect(s.listen[0].profile?.greetingDelay == .seconds(2))
        #expect(s.listen[1].rules.count == 1)
    }

    @Test("smtp-sink's switches become rules in smtp-sink's order, and -f/-r withdraw PIPELINING")
    func switches() throws {
        let s = try settings(flags: [
            "hard-reject": ["mail, rcpt"], "soft-reject": ["VRFY"], "disconnect": ["."], "close": ["CONNECT"],
            "delay": ["RCPT:2", "NOOP:1:50"], "data-delay": ["3"],
        ])
        #expect(s.engine.rules.map(\.id) == ["disconnect:.", "close:CONNECT", "hard-reject:MAIL", "hard-reject:RCPT",
                                             "soft-reject:VRFY", "delay:RCPT", "delay:NOOP", "data-delay"])
        #expect(s.engine.withdrawPipelining)
        #expect(s.engine.rules[1].steps == [.respond(RuleResponse(action: .replyAndClose, reply: .serverClosing))])
        #expect(s.engine.rules[6].steps == [.delayOnly(.dice(unit: .seconds(1), odds: 50))])
        #expect(try !settings(flags: ["close": ["RCPT"]]).engine.withdrawPipelining)
        let custom = try settings(flags: ["hard-reject": ["RCPT"], "hard-reply": ["554 5.7.1 Go away"]])
        #expect(custom.engine.rules[0].steps == [.respond(.reply(SMTPReply(code: .transactionFailed, enhanced: EnhancedStatusCode(5, 7, 1), "Go away")))])
    }

    @Test("Greylisting: a preset, overridden setting by setting; the plan's defaults without one")
    func greylist() throws {
        let plan = try settings().engine.greylist
        #expect(plan.key == .ip && plan.delay == .zero && plan.answer == nil && plan.retryWindow == .seconds(1800))
        #expect(plan.reply(recipient: "a@b", secondsLeft: 0) == .greylistDefault)
        let postgrey = try settings(flags: ["greylist-preset": ["postgrey"], "greylist-delay": ["5s"]]).engine.greylist
        #expect(postgrey.key == .triplet && postgrey.delay == .seconds(5) && postgrey.answer == .rcpt && postgrey.autoWhitelist == 5)
        #expect(postgrey.replyCode.value == 450)
        let mine = try settings(flags: ["greylist-preset": ["sqlgrey"], "greylist-reply": ["451 4.7.1 Mine"]]).engine.greylist
        #expect(mine.reply(recipient: "a@b", secondsLeft: 0).description == "451 4.7.1 Mine\r\n")
    }

    @Test("Every bad engine setting is one line naming where it came from", arguments: [
        (["hard-reject": ["MAIL SEND"]], "invalid --hard-reject \"MAIL SEND\": unknown command \"SEND\""),
        (["delay": ["RCPT:x"]], "invalid --delay \"RCPT:x\""),
        (["client-triggers": ["perhaps"]], "invalid --client-triggers \"perhaps\": expected on or off"),
        (["greylist-key": ["planet"]], "invalid --greylist-key \"planet\": expected ip, net or triplet"),
        (["seed": ["-1"]], "invalid --seed \"-1\""),
        (["soft-reply": ["250 OK"]], "invalid soft-reply: must be a 4xx"),
    ])
    func badSettings(flags: [String: [String]], message: String) {
        let text = error { try settings(flags: flags) }
        #expect(text.hasPrefix(message), "\(text)")
        #expect(!text.contains("\n"))
    }

    @Test("A bad rule in the config file names the file, the rule and the field")
    func badRuleInFile() {
        let text = error { try settings(file: "rules:\n  - {id: r1, command: RCPT, response: {code: 999}}\n") }
        #expect(text.contains(".yaml: rule r1: response.code: expected a reply code from 200 to 599"), "\(text)")
        #expect(error { try settings(file: "listeners: {listen: x}\n") }.contains("expected a list of listeners"))
    }
}

@Suite("Environment variable names")
struct EnvironmentNameTests {
    @Test("A key's variable: SINKHOLE_, upper-cased, dashes as underscores")
    func names() {
        #expect(SettingLayers.environmentName("max-connections") == "SINKHOLE_MAX_CONNECTIONS")
        #expect(SettingLayers.environmentName("threads") == "SINKHOLE_THREADS")
        #expect(SettingLayers.environmentName("tls-cert-file") == "SINKHOLE_TLS_CERT_FILE")
    }
}
