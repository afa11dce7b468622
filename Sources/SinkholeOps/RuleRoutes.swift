import Foundation
import Hummingbird
import ModeSources
import NIOCore
import SinkholePolicy

/// `GET/POST /api/v1/rules`, `GET/PATCH/DELETE /api/v1/rules/{id}`,
/// `POST /api/v1/reset`, `GET/DELETE /api/v1/greylist`,
/// `POST /api/v1/greylist/{key}/pass`.
struct RuleRoutes: Sendable {
    let control: ControlAPI
    let modes: ModeProvider
    let greylist: GreylistTable

    func add(to router: Router<BasicRequestContext>) {
        router.get("api/v1/rules") { _, _ -> Response in
            var listed: [JSONOutput] = control.runtime.apiRules.map { Self.describe($0.rule, book: $0.book, origin: "api",
                                                                                    document: $0.document) }
            if let configured = control.configuredRules {
                listed += configured.rules.map { Self.describe($0, book: configured, origin: $0.origin, document: nil) }
            }
            return JamesRoutes.json(.object([("rules", .list(listed))]))
        }
        router.post("api/v1/rules") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: JamesRoutes.maxBody)
            guard let document = JSONInput.parse(body.readableBytesView) else {
                return MailpitRoutes.error("not JSON", field: "body")
            }
            // One rule, or a list of them (each added in turn; the first bad one stops the rest).
            let documents: [ConfigValue]
            if case .list(let items) = document { documents = items } else { documents = [document] }
            var ids: [String] = []
            for item in documents {
                do {
                    ids.append(try control.runtime.addRule(item))
                } catch {
                    return Self.failure(error, added: ids)
                }
            }
            control.logger?.notice("rules_changed", metadata: ["source": "api", "route": "POST /api/v1/rules",
                                                               "added": "\(ids.joined(separator: ","))"])
            let added = control.runtime.apiRules.filter { ids.contains($0.id) }
                .map { Self.describe($0.rule, book: $0.book, origin: "api", document: $0.document) }
            return JamesRoutes.json(.object([("rules", .list(added))]), status: .created)
        }
        router.delete("api/v1/rules") { _, _ -> Response in
            control.runtime.removeAllRules()
            control.logger?.notice("rules_changed", metadata: ["source": "api", "route": "DELETE /api/v1/rules"])
            return Response(status: .noContent)
        }
        router.get("api/v1/rules/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            if let rule = control.runtime.apiRules.first(where: { $0.id == id }) {
                return JamesRoutes.json(Self.describe(rule.rule, book: rule.book, origin: "api", document: rule.document))
            }
            if let configured = control.configuredRules, let rule = configured.rules.first(where: { $0.id == id }) {
                return JamesRoutes.json(Self.describe(rule, book: configured, origin: rule.origin, document: nil))
            }
            return MailpitRoutes.error("no rule with id \(id)", field: "id", status: .notFound)
        }
        router.patch("api/v1/rules/:id") { request, context -> Response in
            let id = context.parameters.get("id") ?? ""
            guard let existing = control.runtime.apiRules.first(where: { $0.id == id }) else {
                if control.configuredRules?.rules.contains(where: { $0.id == id }) == true {
                    return MailpitRoutes.error("rule \(id) comes from the configuration and cannot be changed over HTTP",
                                               field: "id", status: .conflict)
                }
                return MailpitRoutes.error("no rule with id \(id)", field: "id", status: .notFound)
            }
            var request = request
            let body = try await request.collectBody(upTo: JamesRoutes.maxBody)
            guard case .map(let changes)? = JSONInput.parse(body.readableBytesView) else {
                return MailpitRoutes.error("expected a JSON object of the fields to change", field: "body")
            }
            // The fields given replace the rule's own; null removes one.
            guard case .map(var fields) = existing.document else { return MailpitRoutes.error("not a rule", field: "id") }
            // Names compare as the rule decoder reads them: any case, `_` and `-` ignored (countPer is count_per).
            func name(_ key: String) -> String { key.lowercased().filter { $0 != "_" && $0 != "-" } }
            for (key, value) in changes where name(key) != "id" {
                fields.removeAll { name($0.0) == name(key) }
                if value != .null { fields.append((key, value)) }
            }
            do {
                try control.runtime.replaceRule(id, with: .map(fields))
            } catch {
                return Self.failure(error, added: [])
            }
            // Deleted meanwhile by another request: gone, as a GET would say.
            guard let rule = control.runtime.apiRules.first(where: { $0.id == id }) else {
                return MailpitRoutes.error("no rule with id \(id)", field: "id", status: .notFound)
            }
            return JamesRoutes.json(Self.describe(rule.rule, book: rule.book, origin: "api", document: rule.document))
        }
        router.delete("api/v1/rules/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            do {
                try control.runtime.removeRule(id)
            } catch {
                if control.configuredRules?.rules.contains(where: { $0.id == id }) == true {
                    return MailpitRoutes.error("rule \(id) comes from the configuration and cannot be removed over HTTP",
                                               field: "id", status: .conflict)
                }
                return Self.failure(error, added: [])
            }
            return Response(status: .noContent)
        }
        router.post("api/v1/reset") { _, _ -> Response in
            // Back to what the configuration says: the API's rules, behaviours, chaos and
            // extensions gone, every count restarted, no greylist entries, no mail, no journal, no override.
            control.runtime.reset()
            control.configuredRules?.resetState()
            greylist.clear()
            control.capture?.clear()
            control.journal?.clear()
            modes.clearOverride()
            control.logger?.notice("api_reset", metadata: ["route": "POST /api/v1/reset"])
            return Response(status: .noContent)
        }

        router.get("api/v1/clock") { _, _ -> Response in
            guard let clock = control.testClock else { return Self.noTestClock }
            return JamesRoutes.json(.object([("advanced_seconds", .double(Self.seconds(clock.advanced)))]))
        }
        router.post("api/v1/clock") { request, _ -> Response in
            guard let clock = control.testClock else { return Self.noTestClock }
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard case .map(let fields)? = JSONInput.parse(body.readableBytesView), fields.count == 1,
                  fields[0].0 == "advance" else {
                return MailpitRoutes.error("expected {\"advance\": \"310s\"}", field: "advance")
            }
            guard let text = fields[0].1.scalarText, let duration = DurationText.parse(text), duration > .zero,
                  duration <= .seconds(366 * 86400) else {
                return MailpitRoutes.error("expected a duration up to a year, such as 310s or 2h", field: "advance")
            }
            clock.advance(by: duration)
            control.logger?.notice("clock_advanced", metadata: ["by": "\(text)", "advanced_seconds": "\(Self.seconds(clock.advanced))"])
            return JamesRoutes.json(.object([("advanced_seconds", .double(Self.seconds(clock.advanced)))]))
        }

        router.get("api/v1/greylist") { _, _ -> Response in
            let entries = greylist.entries(now: control.testClock?.now ?? ContinuousClock.now)
            return JamesRoutes.json(.object([
                ("entries", .list(entries.map { entry in
                    .object([
                        ("key", .string(entry.key)),
                        ("state", .string(entry.passed ? "passed" : "deferred")),
                        ("attempts", .int(entry.attempts)),
                        ("first_seconds_ago", .double((entry.firstSecondsAgo * 1000).rounded() / 1000)),
                        ("last_seconds_ago", .double((entry.lastSecondsAgo * 1000).rounded() / 1000)),
                        ("last_gap_seconds", entry.lastGapSeconds.map { .double(($0 * 1000).rounded() / 1000) } ?? .null),
                    ])
                })),
            ]))
        }
        router.delete("api/v1/greylist") { _, _ -> Response in
            greylist.clear()
            return Response(status: .noContent)
        }
        router.post("api/v1/greylist/:key/pass") { _, context -> Response in
            let key = context.parameters.get("key")?.removingPercentEncoding ?? ""
            guard greylist.pass(key: key, now: control.testClock?.now ?? ContinuousClock.now) else {
                return MailpitRoutes.error("no greylist entry \(key)", field: "key", status: .notFound)
            }
            return Response(status: .noContent)
        }
    }

    static var noTestClock: Response {
        MailpitRoutes.error("start sinkhole with --test-clock to move its clock", field: "test-clock", status: .conflict)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return ((Double(s) + Double(atto) / 1e18) * 1000).rounded() / 1000
    }

    static func failure(_ error: any Error, added: [String]) -> Response {
        let note = added.isEmpty ? "" : " (added before it: \(added.joined(separator: ", ")))"
        switch error {
        case RuntimeRules.ChangeError.invalid(let error):
            return MailpitRoutes.error("\(error.reason)\(note)", field: error.field)
        case RuntimeRules.ChangeError.duplicate(let id):
            return MailpitRoutes.error("a rule with id \(id) exists\(note)", field: "id", status: .conflict)
        case RuntimeRules.ChangeError.unknown(let id):
            return MailpitRoutes.error("no rule with id \(id)", field: "id", status: .notFound)
        case RuntimeRules.ChangeError.tooMany(let n):
            return MailpitRoutes.error("at most \(n) rules over the API\(note)", field: "body", status: .conflict)
        default:
            return MailpitRoutes.error("\(error)", field: "body")
        }
    }

    /// A rule and its counts: each key's answers and what it gets next.
    static func describe(_ rule: Rule, book: RuleBook, origin: String, document: ConfigValue?) -> JSONOutput {
        let keys = book.keyStates(ruleID: rule.id)
        let limit = rule.numberOfAnswer ?? (rule.steps.count > 1 ? rule.steps.count : nil)
        func next(_ answered: Int) -> JSONOutput {
            if let limit, answered >= limit { return .string("exhausted") }
            return .string(step(rule.steps[min(answered, rule.steps.count - 1)]))
        }
        var fields: [(String, JSONOutput)] = [
            ("id", .string(rule.id)),
            ("origin", .string(origin)),
            ("commands", .list(rule.commands.map(\.rawValue).sorted().map(JSONOutput.string))),
            ("count_per", .string(rule.countPer.rawValue)),
            ("number_of_answer", limit.map(JSONOutput.int) ?? .null),
            ("answered", .int(keys.reduce(0) { $0 + $1.answered })),
            ("keys", .object(keys.map { ($0.key.isEmpty ? "global" : $0.key,
                                         .object([("answered", .int($0.answered)), ("next", next($0.answered))])) })),
        ]
        if keys.isEmpty { fields.append(("next", next(0))) }
        if let document { fields.append(("rule", output(document))) }
        return .object(fields)
    }

    static func step(_ step: RuleStep) -> String {
        switch step {
        case .respond(let response):
            if let reply = response.reply {
                let text = String(reply.description.split(separator: "\r\n").last ?? "")
                return response.action == .reply ? text : "\(response.action.rawValue) \(text)"
            }
            return response.action.rawValue
        case .pass: return "pass"
        case .delayOnly: return "delay"
        case .slow: return "slow"
        }
    }

    static func output(_ value: ConfigValue) -> JSONOutput {
        switch value {
        case .string(let s): .string(s)
        case .int(let n): .int(n)
        case .double(let d): .double(d)
        case .bool(let b): .bool(b)
        case .null: .null
        case .list(let items): .list(items.map(output))
        case .map(let fields): .object(fields.map { ($0.0, output($0.1)) })
        }
    }
}
