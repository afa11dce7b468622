import Hummingbird
import Logging
import NIOCore
import SinkholePolicy

/// What the control API serves and who may use it.
public struct ControlAPI: Sendable {
    public var runtime: RuntimeRules
    public var capture: MailStore?
    /// Finished sessions' transcripts; nil with `--journal-max-sessions 0`.
    public var journal: SessionJournal?
    /// The configured rules (`rules:`, `--rules`, smtp-sink's switches), listed and reset by the API.
    public var configuredRules: RuleBook?
    /// The policy's movable time (`--test-clock`); nil: real time, and `/api/v1/clock` answers 409.
    public var testClock: TestClock?
    /// What `GET /api/v1/events` streams.
    public var events: EventHub?
    public var logger: Logger?
    /// The bearer token every control route needs; nil: none.
    public var token: String?
    /// GET routes need no token.
    public var readOpen: Bool

    public init(runtime: RuntimeRules, capture: MailStore?, journal: SessionJournal? = nil, configuredRules: RuleBook? = nil,
                testClock: TestClock? = nil, events: EventHub? = nil, logger: Logger? = nil, token: String?, readOpen: Bool) {
        self.testClock = testClock
        self.events = events
        self.configuredRules = configuredRules
        self.logger = logger
        self.runtime = runtime
        self.capture = capture
        self.journal = journal
        self.token = token
        self.readOpen = readOpen
    }
}

/// `Authorization: Bearer <token>` on every route but health, readiness and
/// metrics. The comparison takes the same time wherever the first wrong byte
/// is, and the token is never logged.
struct BearerAuthentication<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    let readOpen: Bool
    let logger: Logger

    /// The page (`/`) holds no data: what it shows comes from the routes behind the token.
    static var openPaths: Set<String> { ["/healthz", "/readyz", "/metrics", "/livez", "/", "/favicon.ico"] }

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path)
            || (readOpen && (request.method == .get || request.method == .head)) {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], Self.matches(header, token) else {
            logger.notice("api_unauthorized", metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)",
                "reason": "\(request.headers[.authorization] == nil ? "no Authorization header" : "wrong token")",
            ])
            var response = JamesRoutes.json(.object([
                ("error", .string("this route needs Authorization: Bearer <token> (--api-token)")),
                ("field", .string("Authorization")),
            ]), status: .unauthorized)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// `Bearer <token>`, compared in constant time.
    static func matches(_ header: String, _ token: [UInt8]) -> Bool {
        let prefix = Array("Bearer ".utf8)
        let given = Array(header.utf8)
        guard given.count == prefix.count + token.count else { return false }
        var difference: UInt8 = 0
        for (index, byte) in prefix.enumerated() {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            difference |= (given[index] | 0x20) ^ (byte | 0x20)
        }
        for (index, byte) in token.enumerated() { difference |= given[prefix.count + index] ^ byte }
        return difference == 0
    }
}
