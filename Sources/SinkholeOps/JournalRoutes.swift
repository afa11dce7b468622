import Foundation
import Hummingbird
import NIOCore
import SinkholePolicy

/// `GET /api/v1/sessions`, `GET /api/v1/sessions/{id}` and `POST /api/v1/verify`:
/// what the client under test did, and whether it did what the test expects.
struct JournalRoutes: Sendable {
    let journal: SessionJournal?

    func add(to router: Router<BasicRequestContext>) {
        router.get("api/v1/sessions") { request, _ -> Response in
            guard let journal else { return Self.noJournal }
            let query = request.uri.queryParameters
            var filter = SessionFilter()
            filter.client = query["client"].map(String.init)
            filter.sender = query["sender"].map { String($0).lowercased() }
            filter.recipient = query["recipient"].map { String($0).lowercased() }
            filter.outcome = query["outcome"].map(String.init)
            if let since = query["since"] {
                guard let parsed = Self.since(String(since)) else {
                    return MailpitRoutes.error("expected a duration back from now (30s, 5m) or an RFC 3339 time", field: "since")
                }
                filter.since = parsed
            }
            var limit = 100
            if let text = query["limit"] {
                guard let n = Int(String(text)), n >= 0 else { return MailpitRoutes.error("expected a whole number", field: "limit") }
                limit = n
            }
            let sessions = journal.all.map(JournaledSession.init).filter(filter.matches).reversed()
            let shown = sessions.prefix(limit == 0 ? Int.max : limit)
            return JamesRoutes.json(.object([
                ("total", .int(sessions.count)),
                ("count", .int(shown.count)),
                ("sessions", .list(shown.map { $0.summary })),
            ]))
        }
        router.get("api/v1/sessions/:id") { _, context -> Response in
            guard let journal else { return Self.noJournal }
            guard let text = context.parameters.get("id"), let id = UInt64(text), let record = journal.record(id: id) else {
                return MailpitRoutes.error("no session with id \(context.parameters.get("id") ?? "")", field: "id", status: .notFound)
            }
            let session = JournaledSession(record)
            guard case .object(var fields) = session.summary else { return JamesRoutes.json(session.summary) }
            fields.append(("transcript", .list(session.entries.map { entry in
                .object([("at_ms", .int(Int(entry.at))), ("kind", .string(Self.kindName(entry.kind))),
                         ("text", .string(entry.text))])
            })))
            return JamesRoutes.json(.object(fields))
        }
        router.post("api/v1/verify") { request, _ -> Response in
            guard let journal else { return Self.noJournal }
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard case .map(let fields)? = JSONInput.parse(body.readableBytesView) else {
                return MailpitRoutes.error("expected a JSON object such as {\"command\": \"RCPT\", \"matching\": \"bob@\"}", field: "body")
            }
            let expectation: Expectation
            do {
                expectation = try Expectation(fields)
            } catch let error as Expectation.Invalid {
                return MailpitRoutes.error(error.reason, field: error.field)
            }
            let verdict = expectation.check(journal.all.map(JournaledSession.init))
            return JamesRoutes.json(verdict.output, status: verdict.matched ? .ok : .conflict)
        }
    }

    static var noJournal: Response {
        MailpitRoutes.error("no sessions are kept: --journal-max-sessions is 0", field: "journal-max-sessions", status: .conflict)
    }

    static func kindName(_ kind: JournalEntry.Kind) -> String {
        switch kind {
        case .client: "client"
        case .server: "server"
        case .decision: "decision"
        case .note: "note"
        }
    }

    /// `30s` back from now, or an RFC 3339 time; seconds since 1970.
    static func since(_ text: String) -> Double? {
        if let duration = DurationText.parse(text) {
            let (seconds, atto) = duration.components
            return Date().timeIntervalSince1970 - (Double(seconds) + Double(atto) / 1e18)
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}

/// A journal record with what the API asks of it worked out.
struct JournaledSession {
    let record: JournalRecord
    let entries: [JournalEntry]
    var helo: String?
    var senders: [String] = []
    var recipients: [String] = []

    init(_ record: JournalRecord) {
        self.record = record
        entries = record.entries
        for entry in entries where entry.kind == .client {
            let verb = Self.verb(entry.text)
            switch verb {
            case "HELO", "EHLO", "LHLO":
                if helo == nil { helo = String(entry.text.dropFirst(4).drop { $0 == " " }) }
            case "MAIL": if let path = Self.path(entry.text) { senders.append(path) }
            case "RCPT": if let path = Self.path(entry.text) { recipients.append(path) }
            default: break
            }
        }
    }

    static func verb(_ line: String) -> String {
        String(line.prefix { $0 != " " && $0 != ":" }).uppercased()
    }

    /// The address in `MAIL FROM:<a@b> ...` or `RCPT TO:<a@b>`.
    static func path(_ line: String) -> String? {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        var rest = line[line.index(after: colon)...].drop { $0 == " " }
        if rest.first == "<" {
            rest = rest.dropFirst()
            return String(rest.prefix { $0 != ">" })
        }
        return String(rest.prefix { $0 != " " })
    }

    var summary: JSONOutput {
        let commands = entries.count { $0.kind == .client }
        return .object([
            ("id", .int(Int(record.id))),
            ("client", .string(record.clientIP.contains(":") ? "[\(record.clientIP)]:\(record.clientPort)" : "\(record.clientIP):\(record.clientPort)")),
            ("listener", .string(record.listener)),
            ("mode", .string(record.mode.rawValue)),
            ("started", .string(MailpitRoutes.timestamp(Date(timeIntervalSince1970: record.started)))),
            ("ended", .string(MailpitRoutes.timestamp(Date(timeIntervalSince1970: record.ended)))),
            ("duration_ms", .int(Int(((record.ended - record.started) * 1000).rounded()))),
            ("outcome", .string(record.outcome)),
            ("helo", helo.map(JSONOutput.string) ?? .null),
            ("senders", .list(senders.map(JSONOutput.string))),
            ("recipients", .list(recipients.map(JSONOutput.string))),
            ("commands", .int(commands)),
            ("dropped_lines", .int(record.dropped)),
        ])
    }
}

struct SessionFilter {
    var client: String?
    var sender: String?
    var recipient: String?
    var outcome: String?
    var since: Double?

    func matches(_ session: JournaledSession) -> Bool {
        if let client, session.record.clientIP != client { return false }
        if let sender, !session.senders.contains(where: { $0.lowercased().contains(sender) }) { return false }
        if let recipient, !session.recipients.contains(where: { $0.lowercased().contains(recipient) }) { return false }
        if let outcome, session.record.outcome != outcome { return false }
        if let since, session.record.ended < since { return false }
        return true
    }
}

/// What `POST /api/v1/verify` checks: how often the client sent a command,
/// how far apart, after which reply.
///
/// ```json
/// {"command": "RCPT", "matching": "bob@example.com", "count": {"atLeast": 3}, "spacing": {"atLeast": "5s"}}
/// {"command": "QUIT", "previous": {"code": 421}}
/// {"command": "RCPT", "matching": "bob@", "after": {"code": 550}, "count": {"exactly": 0}}
/// ```
struct Expectation {
    struct Invalid: Error {
        var field: String
        var reason: String
    }

    var command: String
    var matching: String?
    var atLeast: Int?
    var atMost: Int?
    var spacingAtLeast: Double?
    var spacingAtMost: Double?
    /// The reply just before the line, in its session.
    var previousCode: Int?
    /// Only lines after a matching one was answered with this code.
    var afterCode: Int?
    var filter = SessionFilter()

    init(_ fields: [(String, ConfigValue)]) throws(Invalid) {
        var command: String?
        for (key, value) in fields {
            switch key {
            case "command":
                guard case .string(let text) = value, !text.isEmpty, !text.contains(" ") || text.uppercased() == "MAIL FROM"
                    || text.uppercased() == "RCPT TO" else {
                    throw Invalid(field: "command", reason: "expected a command name such as RCPT, MAIL, QUIT or EHLO")
                }
                command = String(text.prefix { $0 != " " }).uppercased()
            case "matching":
                guard case .string(let text) = value else { throw Invalid(field: "matching", reason: "expected a string") }
                matching = text.lowercased()
            case "count":
                guard case .map(let bounds) = value else { throw Invalid(field: "count", reason: "expected {\"atLeast\": n}, {\"atMost\": n} or {\"exactly\": n}") }
                for (bound, number) in bounds {
                    guard case .int(let n) = number, n >= 0 else { throw Invalid(field: "count.\(bound)", reason: "expected a whole number, 0 or more") }
                    switch bound {
                    case "atLeast": atLeast = n
                    case "atMost": atMost = n
                    case "exactly": atLeast = n; atMost = n
                    default: throw Invalid(field: "count.\(bound)", reason: "unknown bound (expected atLeast, atMost or exactly)")
                    }
                }
            case "spacing":
                guard case .map(let bounds) = value else { throw Invalid(field: "spacing", reason: "expected {\"atLeast\": \"5s\"}") }
                for (bound, text) in bounds {
                    guard let text = text.scalarText, let duration = DurationText.parse(text) else {
                        throw Invalid(field: "spacing.\(bound)", reason: "expected a duration such as 5s")
                    }
                    let (s, atto) = duration.components
                    let seconds = Double(s) + Double(atto) / 1e18
                    switch bound {
                    case "atLeast": spacingAtLeast = seconds
                    case "atMost": spacingAtMost = seconds
                    default: throw Invalid(field: "spacing.\(bound)", reason: "unknown bound (expected atLeast or atMost)")
                    }
                }
            case "previous", "after":
                guard case .map(let reply) = value, reply.count == 1, reply[0].0 == "code",
                      case .int(let code) = reply[0].1, (200...599).contains(code) else {
                    throw Invalid(field: key, reason: "expected {\"code\": N} with N from 200 to 599")
                }
                if key == "previous" { previousCode = code } else { afterCode = code }
            case "client":
                guard case .string(let text) = value else { throw Invalid(field: "client", reason: "expected an IP address") }
                filter.client = text
            case "since":
                guard let text = value.scalarText, let since = JournalRoutes.since(text) else {
                    throw Invalid(field: "since", reason: "expected a duration back from now (30s) or an RFC 3339 time")
                }
                filter.since = since
            default:
                throw Invalid(field: key, reason: "unknown field (expected command, matching, count, spacing, previous, after, client or since)")
            }
        }
        guard let command else { throw Invalid(field: "command", reason: "is required") }
        self.command = command
        if atLeast == nil && atMost == nil { atLeast = 1 }
    }

    struct Occurrence {
        var session: UInt64
        var time: Double
        var line: String
        var reply: String?
        var code: Int?
        var decision: String?
        var previousCode: Int?
    }

    struct Verdict {
        var matched: Bool
        var output: JSONOutput
    }

    /// Every line of `command` (any argument), in time order, with its reply.
    func occurrences(_ sessions: [JournaledSession]) -> [Occurrence] {
        var out: [Occurrence] = []
        for session in sessions where filter.matches(session) {
            var lastCode: Int?
            var pending: Int?
            for entry in session.entries {
                switch entry.kind {
                case .client:
                    pending = nil
                    guard JournaledSession.verb(entry.text) == command else { continue }
                    out.append(Occurrence(session: session.record.id, time: session.record.started + Double(entry.at) / 1000,
                                          line: entry.text, previousCode: lastCode))
                    pending = out.count - 1
                case .server:
                    let code = Int(entry.text.prefix(3))
                    if let index = pending, out[index].reply == nil {
                        out[index].reply = entry.text
                        out[index].code = code
                    }
                    lastCode = code
                case .decision:
                    if let index = pending, out[index].decision == nil { out[index].decision = entry.text }
                case .note:
                    break
                }
            }
        }
        return out.sorted { $0.time < $1.time }
    }

    func check(_ sessions: [JournaledSession]) -> Verdict {
        let all = occurrences(sessions)
        var matches = all.filter { matching == nil || $0.line.lowercased().contains(matching!) }
        var misses: [String] = []
        let described = "\(command)" + (matching.map { " matching \"\($0)\"" } ?? "")
        var afterNeverHappened = false
        if let afterCode {
            if let first = matches.firstIndex(where: { $0.code == afterCode }) {
                matches = Array(matches[(first + 1)...])
            } else {
                // Nothing to come after: a misspelt `matching` must not pass as "no retry".
                misses.append("no \(described) was answered \(afterCode), so nothing came after one")
                matches = []
                afterNeverHappened = true
            }
        }
        if let previousCode {
            let wrong = matches.filter { $0.previousCode != previousCode }
            matches.removeAll { $0.previousCode != previousCode }
            if !wrong.isEmpty {
                let codes = wrong.map { $0.previousCode.map(String.init) ?? "none" }
                misses.append("\(described) was sent \(times(wrong.count)) after a reply other than \(previousCode) (after \(Self.tally(codes)))")
            }
        }
        var countOK = true
        if let atLeast, matches.count < atLeast { countOK = false }
        if let atMost, matches.count > atMost { countOK = false }
        var ok = countOK && !afterNeverHappened
        if !countOK {
            misses.insert("\(described) was sent \(times(matches.count)); expected \(boundsText)", at: 0)
            if matches.isEmpty, matching != nil, !all.isEmpty {
                let lines = all.map { $0.line }
                misses.append("\(command) lines that were sent: \(Self.tally(lines))")
            }
        }
        // How the server answered the matching lines.
        let answers = matches.map { ($0.decision.map { "\($0): " } ?? "") + ($0.reply?.split(separator: "\r\n").last.map(String.init) ?? "no reply") }
        if !matches.isEmpty { misses.append("answered: \(Self.tally(answers))") }
        for (index, pair) in zip(matches, matches.dropFirst()).enumerated() {
            let gap = pair.1.time - pair.0.time
            if let least = spacingAtLeast, gap < least {
                ok = false
                misses.append("occurrence \(index + 2) came \(Self.seconds(gap)) after occurrence \(index + 1); expected at least \(Self.seconds(least))")
            }
            if let most = spacingAtMost, gap > most {
                ok = false
                misses.append("occurrence \(index + 2) came \(Self.seconds(gap)) after occurrence \(index + 1); expected at most \(Self.seconds(most))")
            }
        }
        let listed = matches.suffix(100).map { occurrence -> JSONOutput in
            .object([
                ("session", .int(Int(occurrence.session))),
                ("at", .string(MailpitRoutes.timestamp(Date(timeIntervalSince1970: occurrence.time)))),
                ("line", .string(occurrence.line)),
                ("reply", occurrence.reply.map(JSONOutput.string) ?? .null),
                ("decision", occurrence.decision.map(JSONOutput.string) ?? .null),
            ])
        }
        var fields: [(String, JSONOutput)] = [
            ("matched", .bool(ok)),
            ("expected", .string("\(described): \(boundsText)")),
            ("count", .int(matches.count)),
            ("sessions", .list(Array(Set(matches.map(\.session))).sorted().map { .int(Int($0)) })),
            ("occurrences", .list(listed)),
        ]
        if !ok { fields.append(("near_misses", .list(misses.map(JSONOutput.string)))) }
        return Verdict(matched: ok, output: .object(fields))
    }

    private var boundsText: String {
        var parts: [String] = []
        if let atLeast, let atMost, atLeast == atMost { parts.append("exactly \(atLeast)") } else {
            if let atLeast { parts.append("at least \(atLeast)") }
            if let atMost { parts.append("at most \(atMost)") }
        }
        if let spacingAtLeast { parts.append("at least \(Self.seconds(spacingAtLeast)) apart") }
        if let spacingAtMost { parts.append("at most \(Self.seconds(spacingAtMost)) apart") }
        if let previousCode { parts.append("each right after a \(previousCode)") }
        if let afterCode { parts.append("after one was answered \(afterCode)") }
        return parts.joined(separator: ", ")
    }

    private func times(_ n: Int) -> String { n == 1 ? "1 time" : "\(n) times" }

    static func seconds(_ value: Double) -> String {
        String(format: "%.1f s", value)
    }

    /// `a (2), b (1)`, most frequent first, in first-seen order among equals.
    static func tally(_ items: [String]) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for item in items {
            if counts[item] == nil { order.append(item) }
            counts[item, default: 0] += 1
        }
        return order.sorted { counts[$0]! > counts[$1]! }.prefix(10).map { "\($0) (\(counts[$0]!))" }.joined(separator: ", ")
    }
}
