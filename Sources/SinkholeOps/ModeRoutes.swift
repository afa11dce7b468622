import Hummingbird
import Logging
import ModeSources
import NIOCore
import SinkholePolicy

/// `GET/PUT/DELETE /api/v1/mode`: the mode sessions start with, where it
/// comes from, and an override for CI without SSM.
struct ModeRoutes: Sendable {
    let modes: ModeProvider

    func add(to router: Router<BasicRequestContext>) {
        router.get("api/v1/mode") { _, _ in JamesRoutes.json(describe()) }
        router.put("api/v1/mode") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard case .map(let fields)? = JSONInput.parse(body.readableBytesView) else {
                return MailpitRoutes.error("expected a JSON object such as {\"mode\": \"bounce\", \"ttl\": \"10m\"}", field: "body")
            }
            var mode: Mode?
            var ttl: Duration?
            for (key, value) in fields {
                switch key {
                case "mode":
                    guard case .string(let text) = value, let parsed = Mode(parsing: text) else {
                        return MailpitRoutes.error("expected one of \(Mode.names)", field: "mode")
                    }
                    mode = parsed
                case "ttl":
                    if case .null = value { continue }
                    guard let text = value.scalarText, let duration = DurationText.parse(text), duration > .zero else {
                        return MailpitRoutes.error("expected a duration such as 10m or 30s", field: "ttl")
                    }
                    ttl = duration
                default:
                    return MailpitRoutes.error("unknown field (expected mode or ttl)", field: key)
                }
            }
            guard let mode else { return MailpitRoutes.error("is required", field: "mode") }
            modes.setOverride(mode, ttl: ttl)
            return JamesRoutes.json(describe())
        }
        router.delete("api/v1/mode") { _, _ -> Response in
            modes.clearOverride()
            return JamesRoutes.json(describe())
        }
    }

    private func describe() -> JSONOutput {
        let snapshot = modes.snapshot
        let now = ContinuousClock.now
        func seconds(_ duration: Duration) -> JSONOutput {
            let (s, atto) = duration.components
            return .double(((Double(s) + Double(atto) / 1e18) * 1000).rounded() / 1000)
        }
        var override: JSONOutput = .null
        if let mode = snapshot.override {
            override = .object([
                ("mode", .string(mode.rawValue)),
                ("expires_in_seconds", snapshot.overrideExpires.map { seconds($0 - now) } ?? .null),
            ])
        }
        return .object([
            ("mode", .string((snapshot.override ?? snapshot.mode).rawValue)),
            ("source", .string(snapshot.override != nil ? "api" : modes.source.name)),
            ("override", override),
            ("configured", .object([
                ("mode", .string(snapshot.mode.rawValue)),
                ("source", .string(modes.source.name)),
                ("known", .bool(snapshot.isKnown)),
                ("ttl_seconds", seconds(modes.ttl)),
                ("last_read_seconds_ago", snapshot.lastRead.map { seconds(now - $0) } ?? .null),
                ("last_error", snapshot.lastError.map(JSONOutput.string) ?? .null),
                ("reads", .int(snapshot.reads)),
                ("errors", .int(snapshot.errors)),
            ])),
        ])
    }
}
