import Foundation
import Hummingbird
import Logging
import NIOCore
import SinkholePolicy

/// Mailpit's message API (mailpit-compat.md §4–5) over captured mail, and
/// its chaos triggers over the engine. Field names and casing are Mailpit's,
/// empty lists are `[]`. Errors are JSON `{"error", "field"}` with a 4xx
/// (Mailpit answers 400 text/plain).
struct MailpitRoutes: Sendable {
    let runtime: RuntimeRules
    let capture: MailStore?
    let started: Date
    let logger: Logger

    static let maxBody = 1 << 20

    func add(to router: Router<BasicRequestContext>) {
        router.get("livez") { _, _ in "ok\n" }
        router.get("api/v1/messages") { request, _ -> Response in
            let page: Page
            switch Self.page(request) {
            case .success(let parsed): page = parsed
            case .failure(let error): return Self.badPage(error)
            }
            // Mailpit's `before`: only messages received earlier than this time.
            if let text = Self.formValue(request, "before") {
                guard let before = Self.time(text) else {
                    return Self.error("expected an RFC 3339 time or a date (2026-12-01)", field: "before")
                }
                return Self.json(list(newestFirst().filter { $0.receivedAt < before }, page: page, matchesOnly: false))
            }
            return Self.json(list(newestFirst(), page: page, matchesOnly: false))
        }
        router.delete("api/v1/messages") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: Self.maxBody)
            // Mailpit: a missing, empty or unreadable body deletes everything.
            if case .map(let fields)? = JSONInput.parse(body.readableBytesView),
               let ids = Self.ids(fields), !ids.isEmpty {
                capture?.delete(ids: ids)
            } else {
                capture?.clear()
            }
            return Self.ok
        }
        router.put("api/v1/messages") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: Self.maxBody)
            guard case .map(let fields)? = JSONInput.parse(body.readableBytesView) else {
                return Self.error("expected a JSON object such as {\"Read\": true, \"IDs\": [...]}", field: "body")
            }
            guard case .bool(let read)? = fields.first(where: { $0.0.lowercased() == "read" })?.1 else {
                return Self.error("Read must be true or false", field: "Read")
            }
            var ids = Self.ids(fields)
            // Mailpit: IDs, or a search, or neither for all.
            if ids?.isEmpty != false, case .string(let query)? = fields.first(where: { $0.0.lowercased() == "search" })?.1,
               !query.isEmpty {
                let search = MailSearch(query)
                ids = Set(all().filter(search.matches).map(\.mail.queueID))
                if ids?.isEmpty == true { return Self.ok }
            }
            capture?.setRead(read, ids: ids?.isEmpty == false ? ids : nil)
            return Self.ok
        }
        router.get("api/v1/messages/wait") { request, _ -> Response in
            // Waits for mail, so a test needs no polling loop: 200 with the list once
            // `count` messages are kept, 408 when `timeout` (default 10s, at most 5m) passes first.
            let query = request.uri.queryParameters
            guard let countText = query["count"], let count = Int(String(countText)), count >= 1, count <= 100_000 else {
                return Self.error("count is required: a whole number from 1 to 100000", field: "count")
            }
            var timeout: Duration = .seconds(10)
            if let text = query["timeout"] {
                guard let parsed = DurationText.parse(String(text)), parsed > .zero, parsed <= .seconds(300) else {
                    return Self.error("expected a duration up to 5m, such as 10s", field: "timeout")
                }
                timeout = parsed
            }
            guard let capture else {
                return Self.error("no mail is kept: start sinkhole with --capture memory", field: "count", status: .conflict)
            }
            guard await capture.wait(forCount: count, timeout: timeout) else {
                return Self.error("\(capture.count) of \(count) messages within \(timeout)", field: "count", status: .requestTimeout)
            }
            return Self.json(list(newestFirst(), page: Page(start: 0, limit: 0), matchesOnly: false))
        }
        router.get("api/v1/search") { request, _ -> Response in
            guard let query = Self.formValue(request, "query"), !query.isEmpty else {
                return Self.error("query is required", field: "query")
            }
            let page: Page
            switch Self.page(request) {
            case .success(let parsed): page = parsed
            case .failure(let error): return Self.badPage(error)
            }
            let search = MailSearch(query)
            return Self.json(list(all().filter(search.matches).map(\.mail), page: page, matchesOnly: true))
        }
        router.delete("api/v1/search") { request, _ -> Response in
            guard let query = Self.formValue(request, "query"), !query.isEmpty else {
                return Self.error("query is required", field: "query")
            }
            let search = MailSearch(query)
            capture?.delete(ids: Set(all().filter(search.matches).map(\.mail.queueID)))
            return Self.ok
        }
        router.get("api/v1/message/:id") { _, context -> Response in
            guard let parsed = find(context, markRead: true) else { return notFound(context) }
            return Self.json(Self.message(parsed))
        }
        router.get("api/v1/message/:id/headers") { _, context -> Response in
            guard let parsed = find(context, markRead: false) else { return notFound(context) }
            var names: [String] = []
            var values: [String: [String]] = [:]
            for (name, value) in parsed.mime.headers {
                if values[name] == nil { names.append(name) }
                values[name, default: []].append(value)
            }
            return Self.json(.object(names.map { ($0, .list(values[$0]!.map(JSONOutput.string))) }))
        }
        router.get("api/v1/message/:id/raw") { _, context -> Response in
            guard let parsed = find(context, markRead: false) else { return notFound(context) }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: parsed.mail.message)))
        }
        router.get("api/v1/info") { _, _ -> Response in
            let statistics = capture?.statistics
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Self.json(.object([
                ("Version", .string("sinkhole")),
                ("LatestVersion", .string("")),
                ("Database", .string(capture == nil ? "" : "memory")),
                ("DatabaseSize", .int(statistics?.bytes ?? 0)),
                ("Messages", .int(statistics?.messages ?? 0)),
                ("Unread", .int(statistics?.unread ?? 0)),
                ("Tags", .object([])),
                ("RuntimeStats", .object([
                    ("Uptime", .int(Int(Date().timeIntervalSince(started)))),
                    ("Memory", .int(usage.ru_maxrss * 1024)),
                    ("MessagesDeleted", .int(statistics?.deleted ?? 0)),
                    ("SMTPAccepted", .int(statistics?.accepted ?? 0)),
                    ("SMTPAcceptedSize", .int(statistics?.acceptedBytes ?? 0)),
                    ("SMTPRejected", .int(statistics?.refused ?? 0)),
                    ("SMTPIgnored", .int(0)),
                ])),
            ]))
        }
        router.get("api/v1/chaos") { _, _ in Self.json(Self.chaos(runtime.chaos)) }
        router.put("api/v1/chaos") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: Self.maxBody)
            guard case .map(let fields)? = JSONInput.parse(body.readableBytesView) else {
                return Self.error("expected a JSON object such as {\"Recipient\": {\"ErrorCode\": 451, \"Probability\": 50}}",
                                  field: "body")
            }
            // Mailpit: a trigger left out goes back to its default code with probability 0.
            var chaos = ChaosTriggers()
            for (key, value) in fields {
                let defaults = ChaosTriggers()
                let name: String
                let fallback: ChaosTriggers.Trigger
                switch key.lowercased() {
                case "sender": (name, fallback) = ("Sender", defaults.sender)
                case "recipient", "recipients": (name, fallback) = ("Recipient", defaults.recipient)
                case "authentication", "auth": (name, fallback) = ("Authentication", defaults.authentication)
                default: return Self.error("unknown trigger (expected Sender, Recipient or Authentication)", field: key)
                }
                guard case .map(let settings) = value else { return Self.error("expected an object", field: name) }
                var trigger = fallback
                for (setting, number) in settings {
                    guard case .int(let n) = number else { return Self.error("expected a whole number", field: "\(name).\(setting)") }
                    switch setting.lowercased() {
                    case "errorcode":
                        guard n == 0 || (400...599).contains(n) else {
                            return Self.error("ErrorCode must be 400-599", field: "\(name).ErrorCode")
                        }
                        trigger.errorCode = n == 0 ? fallback.errorCode : n
                    case "probability":
                        guard (0...100).contains(n) else {
                            return Self.error("Probability must be 0-100", field: "\(name).Probability")
                        }
                        trigger.probability = n
                    default:
                        return Self.error("unknown field (expected ErrorCode or Probability)", field: "\(name).\(setting)")
                    }
                }
                switch name {
                case "Sender": chaos.sender = trigger
                case "Recipient": chaos.recipient = trigger
                default: chaos.authentication = trigger
                }
            }
            do {
                try runtime.replaceChaos(chaos)
            } catch {
                return Self.error("\(error)", field: "body")
            }
            logger.notice("rules_changed", metadata: ["source": "api", "route": "PUT /api/v1/chaos",
                                                      "sender": "\(chaos.sender.probability)",
                                                      "recipient": "\(chaos.recipient.probability)"])
            return Self.json(Self.chaos(chaos))
        }
    }

    // MARK: - Lookup

    struct Parsed {
        var mail: CapturedMail
        var mime: MIMEMessage
    }

    /// Newest first.
    private func newestFirst() -> [CapturedMail] { (capture?.all ?? []).reversed() }

    /// Newest first, parsed (for searching: each message's headers and text are read).
    private func all() -> [Parsed] {
        newestFirst().map { Parsed(mail: $0, mime: MIMEMessage($0.message)) }
    }

    private func find(_ context: BasicRequestContext, markRead: Bool) -> Parsed? {
        guard let capture, let id = context.parameters.get("id") else { return nil }
        let target = id == "latest" ? capture.all.last?.queueID : id
        guard let target, let mail = capture.mail(id: target, markRead: markRead) else { return nil }
        var shown = mail
        if markRead { shown.read = true }
        return Parsed(mail: shown, mime: MIMEMessage(mail.message))
    }

    private func notFound(_ context: BasicRequestContext) -> Response {
        Self.error("no message with ID \(context.parameters.get("id") ?? "")", field: "ID", status: .notFound)
    }

    // MARK: - Shapes

    struct Page {
        var start: Int
        var limit: Int
    }

    /// `start` and `limit`; the name of the bad one when either is not a whole number, 0 or more.
    static func page(_ request: Request) -> Result<Page, PageError> {
        let query = request.uri.queryParameters
        func number(_ name: String, _ fallback: Int) -> Int? {
            guard let text = query[name[...]] else { return fallback }
            guard let n = Int(String(text)), n >= 0 else { return nil }
            return n
        }
        guard let start = number("start", 0) else { return .failure(PageError(field: "start")) }
        guard let limit = number("limit", 50) else { return .failure(PageError(field: "limit")) }
        return .success(Page(start: start, limit: limit))
    }

    struct PageError: Error { var field: String }

    static func badPage(_ error: PageError) -> Response {
        Self.error("\(error.field) must be a whole number, 0 or more", field: error.field)
    }

    /// One page of `matches`; only the messages on it are parsed.
    private func list(_ matches: [CapturedMail], page: Page, matchesOnly: Bool) -> JSONOutput {
        let statistics = capture?.statistics
        let total = statistics?.messages ?? 0
        let unread = statistics?.unread ?? 0
        let slice = matches.dropFirst(page.start).prefix(page.limit == 0 ? Int.max : page.limit)
        return .object([
            ("total", .int(total)),
            ("unread", .int(unread)),
            ("count", .int(slice.count)),
            ("messages_count", .int(matchesOnly ? matches.count : total)),
            ("messages_unread", .int(matchesOnly ? matches.count { !$0.read } : unread)),
            ("start", .int(page.start)),
            ("tags", .list([])),
            ("messages", .list(slice.map { Self.summary(Parsed(mail: $0, mime: MIMEMessage($0.message))) })),
        ])
    }

    static func address(_ address: MIMEMessage.Address) -> JSONOutput {
        .object([("Name", .string(address.name)), ("Address", .string(address.address))])
    }

    /// Envelope recipients the headers do not name: Mailpit's Bcc.
    static func bcc(_ parsed: Parsed) -> [MIMEMessage.Address] {
        let named = Set((parsed.mime.addresses("To") + parsed.mime.addresses("Cc")).map { $0.address.lowercased() })
        return parsed.mime.addresses("Bcc") + parsed.mail.recipients
            .filter { !named.contains($0.address.lowercased()) }
            .filter { recipient in !parsed.mime.addresses("Bcc").contains { $0.address.lowercased() == recipient.address.lowercased() } }
            .map { MIMEMessage.Address(name: "", address: $0.address) }
    }

    static func common(_ parsed: Parsed) -> [(String, JSONOutput)] {
        let mime = parsed.mime
        return [
            ("ID", .string(parsed.mail.queueID)),
            ("MessageID", .string(mime.messageID)),
            ("Read", .bool(parsed.mail.read)),
            ("From", address(mime.addresses("From").first ?? MIMEMessage.Address(name: "", address: ""))),
            ("To", .list(mime.addresses("To").map(address))),
            ("Cc", .list(mime.addresses("Cc").map(address))),
            ("Bcc", .list(bcc(parsed).map(address))),
            ("ReplyTo", .list(mime.addresses("Reply-To").map(address))),
        ]
    }

    static func summary(_ parsed: Parsed) -> JSONOutput {
        .object(common(parsed) + [
            ("Subject", .string(parsed.mime.subject)),
            ("Created", .string(timestamp(Date(timeIntervalSince1970: parsed.mail.receivedAt)))),
            ("Username", .string(parsed.mail.authUser ?? "")),
            ("Tags", .list([])),
            ("Size", .int(parsed.mail.message.count)),
            ("Attachments", .int(parsed.mime.attachments.count)),
            ("Snippet", .string(parsed.mime.snippet)),
        ])
    }

    static func part(_ part: MIMEMessage.Part) -> JSONOutput {
        .object([("PartID", .string(part.partID)), ("FileName", .string(part.fileName)),
                 ("ContentType", .string(part.contentType)), ("ContentID", .string(part.contentID)),
                 ("Size", .int(part.size))])
    }

    static func message(_ parsed: Parsed) -> JSONOutput {
        let mime = parsed.mime
        let date = mime.header("Date").flatMap(MIMEMessage.parseDate) ?? Date(timeIntervalSince1970: parsed.mail.receivedAt)
        return .object(common(parsed) + [
            ("ReturnPath", .string(parsed.mail.from == "<>" ? "" : parsed.mail.from)),
            ("Subject", .string(mime.subject)),
            ("ListUnsubscribe", .object([("Header", .string(mime.header("List-Unsubscribe") ?? "")),
                                         ("Links", .list(Self.links(mime.header("List-Unsubscribe")).map(JSONOutput.string))),
                                         ("Errors", .string("")), ("HeaderPost", .string(mime.header("List-Unsubscribe-Post") ?? ""))])),
            ("Date", .string(timestamp(date))),
            ("Tags", .list([])),
            ("Username", .string(parsed.mail.authUser ?? "")),
            ("Text", .string(mime.text)),
            ("HTML", .string(mime.html)),
            ("Size", .int(parsed.mail.message.count)),
            ("Inline", .list(mime.inline.map(part))),
            ("Attachments", .list(mime.attachments.map(part))),
            // sinkhole's own: the envelope and the transaction as it went (Mailpit clients ignore it).
            ("SMTP", .object([
                ("ClientIP", .string(parsed.mail.clientIP)),
                ("Helo", .string(parsed.mail.helo)),
                ("Listener", .string(parsed.mail.listener)),
                ("TLS", parsed.mail.tls.map { tls in
                    .object([("Version", .string(tls.version)), ("Cipher", tls.cipher.map(JSONOutput.string) ?? .null),
                             ("ServerName", tls.serverName.map(JSONOutput.string) ?? .null)])
                } ?? .null),
                ("AuthUser", parsed.mail.authUser.map(JSONOutput.string) ?? .null),
                ("MailFrom", .string(parsed.mail.from)),
                ("Recipients", .list(parsed.mail.recipients.map { .string($0.address) })),
                ("Transaction", .list(parsed.mail.transaction.map { step in
                    .object([("Command", .string(step.command)), ("Reply", .string(step.reply)),
                             ("Decision", step.decision.map(JSONOutput.string) ?? .null)])
                })),
            ])),
        ])
    }

    static func chaos(_ chaos: ChaosTriggers) -> JSONOutput {
        func trigger(_ t: ChaosTriggers.Trigger) -> JSONOutput {
            .object([("ErrorCode", .int(t.errorCode)), ("Probability", .int(t.probability))])
        }
        return .object([("Sender", trigger(chaos.sender)), ("Recipient", trigger(chaos.recipient)),
                        ("Authentication", trigger(chaos.authentication))])
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// A query parameter as a form encodes it: `+` is a space (as Go's and
    /// every browser's decoder read it), `%2B` a plus.
    static func formValue(_ request: Request, _ name: String) -> String? {
        guard let query = request.uri.query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0] == name[...] else { continue }
            let raw = parts.count == 2 ? parts[1].replacingOccurrences(of: "+", with: " ") : ""
            return raw.removingPercentEncoding ?? raw
        }
        return nil
    }

    /// An RFC 3339 time (fractional seconds optional) or a date, as seconds since 1970.
    static func time(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
                                                      [.withFullDate]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        }
        return nil
    }

    /// The `<...>` links of a List-Unsubscribe header.
    static func links(_ header: String?) -> [String] {
        guard let header else { return [] }
        var out: [String] = []
        var rest = header[...]
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            out.append(String(rest[rest.index(after: open)..<close]).trimmingCharacters(in: .whitespaces))
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    static func ids(_ fields: [(String, ConfigValue)]) -> Set<String>? {
        guard case .list(let items)? = fields.first(where: { $0.0.lowercased() == "ids" })?.1 else { return nil }
        return Set(items.compactMap { if case .string(let s) = $0 { s } else { nil } })
    }

    static var ok: Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: "ok")))
    }

    static func json(_ value: JSONOutput) -> Response { JamesRoutes.json(value) }

    static func error(_ message: String, field: String, status: HTTPResponse.Status = .badRequest) -> Response {
        JamesRoutes.json(.object([("error", .string(message)), ("field", .string(field))]), status: status)
    }
}

/// Mailpit's search: terms ANDed; `to:`, `from:`, `subject:`, `is:read`,
/// `is:unread`, and free text over the subject, the addresses and the text;
/// case-insensitive substrings; `"quoted words"` as one term.
struct MailSearch {
    enum Term {
        case to(String), from(String), subject(String), read(Bool), text(String)
    }

    var terms: [Term] = []

    init(_ query: String) {
        var words: [String] = []
        var current = ""
        var quoted = false
        for character in query {
            if character == "\"" { quoted.toggle(); continue }
            if character == " " && !quoted {
                if !current.isEmpty { words.append(current); current = "" }
                continue
            }
            current.append(character)
        }
        if !current.isEmpty { words.append(current) }
        for word in words {
            let lower = word.lowercased()
            if lower.hasPrefix("to:") { terms.append(.to(String(lower.dropFirst(3)))) }
            else if lower.hasPrefix("from:") { terms.append(.from(String(lower.dropFirst(5)))) }
            else if lower.hasPrefix("subject:") { terms.append(.subject(String(lower.dropFirst(8)))) }
            else if lower == "is:read" { terms.append(.read(true)) }
            else if lower == "is:unread" { terms.append(.read(false)) }
            else { terms.append(.text(lower)) }
        }
    }

    func matches(_ parsed: MailpitRoutes.Parsed) -> Bool {
        let mime = parsed.mime
        func names(_ list: [MIMEMessage.Address]) -> String {
            list.map { "\($0.name) <\($0.address)>" }.joined(separator: ", ").lowercased()
        }
        let to = names(mime.addresses("To") + mime.addresses("Cc") + MailpitRoutes.bcc(parsed))
        let from = names(mime.addresses("From")) + " " + parsed.mail.from.lowercased()
        let subject = mime.subject.lowercased()
        for term in terms {
            switch term {
            case .to(let value): if !to.contains(value) { return false }
            case .from(let value): if !from.contains(value) { return false }
            case .subject(let value): if !subject.contains(value) { return false }
            case .read(let read): if parsed.mail.read != read { return false }
            case .text(let value):
                if !(subject.contains(value) || to.contains(value) || from.contains(value)
                     || mime.text.lowercased().contains(value) || mime.html.lowercased().contains(value)) { return false }
            }
        }
        return true
    }
}
