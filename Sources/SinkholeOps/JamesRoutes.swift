import Hummingbird
import Logging
import NIOCore
import SinkholePolicy

/// Apache James's mock-server routes, answered as James answers them
/// (james-mock-smtp-spec.md §2): `PUT` → 204, anything James cannot read →
/// 400 with an empty body, an empty `PUT` body → 200 with nothing changed.
struct JamesRoutes: Sendable {
    let runtime: RuntimeRules
    /// nil without `--capture memory`: no mail is kept, the lists are empty.
    let capture: MailStore?
    let logger: Logger

    /// The most a PUT body may hold.
    static let maxBody = 1 << 20

    func add(to router: Router<BasicRequestContext>) {
        router.get("smtpBehaviors") { _, _ in
            Self.json(.list(runtime.liveBehaviors.map(Self.output)))
        }
        router.put("smtpBehaviors") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: Self.maxBody)
            guard body.readableBytes > 0 else { return Response(status: .ok) }
            guard let document = JSONInput.parse(body.readableBytesView) else {
                return badRequest("not JSON")
            }
            do {
                let behaviors = try JamesBehavior.parseList(document)
                try runtime.replaceBehaviors(behaviors)
                logger.notice("rules_changed", metadata: ["source": "api", "route": "PUT /smtpBehaviors",
                                                          "behaviors": "\(behaviors.count)"])
                return Response(status: .noContent)
            } catch let error as JamesBehavior.Invalid {
                return badRequest(error.description)
            } catch {
                return badRequest("\(error)")
            }
        }
        router.delete("smtpBehaviors") { _, _ -> Response in
            try? runtime.replaceBehaviors([])
            logger.notice("rules_changed", metadata: ["source": "api", "route": "DELETE /smtpBehaviors", "behaviors": "0"])
            return Response(status: .noContent)
        }

        router.get("smtpExtensions") { _, _ in
            Self.json(.list(runtime.currentExtensions.map(JSONOutput.string)))
        }
        router.put("smtpExtensions") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: Self.maxBody)
            guard body.readableBytes > 0 else { return Response(status: .ok) }
            guard case .list(let items)? = JSONInput.parse(body.readableBytesView) else {
                return badRequest("expected a JSON array of strings")
            }
            var extensions: [String] = []
            for item in items {
                // One EHLO line each: no line breaks, nothing a client cannot read back.
                guard case .string(let text) = item, !text.isEmpty, text.utf8.count <= 500,
                      text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
                    return badRequest("each extension is one line of printable ASCII, 1 to 500 bytes")
                }
                extensions.append(text)
            }
            guard extensions.count <= 100 else { return badRequest("at most 100 extensions") }
            runtime.replaceExtensions(extensions)
            return Response(status: .noContent)
        }
        router.delete("smtpExtensions") { _, _ -> Response in
            runtime.replaceExtensions([])
            return Response(status: .noContent)
        }

        router.get("smtpMails") { _, _ in
            Self.json(.list((capture?.all ?? []).map(Self.output)))
        }
        router.delete("smtpMails") { _, _ in
            // Taken and cleared in one step: a message arriving meanwhile is in this answer or stays stored.
            Self.json(.list((capture?.drain() ?? []).map(Self.output)))
        }
        router.get("smtpMailsCount") { _, _ in
            Self.json(.int(capture?.count ?? 0))
        }
        router.get("version") { _, _ in
            // James's mock has answered "0.4" since 2021; its tests check it.
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "0.4")))
        }
    }

    private func badRequest(_ reason: String) -> Response {
        // James logs "Bad request" and answers 400 with nothing in the body.
        logger.info("api_bad_request", metadata: ["reason": "\(reason)"])
        return Response(status: .badRequest)
    }

    static func json(_ value: JSONOutput, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: value.text)))
    }

    static func output(_ behavior: JamesBehavior) -> JSONOutput {
        var condition: [(String, JSONOutput)] = [("operator", .string(behavior.conditionOperator))]
        if let value = behavior.matchingValue { condition.append(("matchingValue", .string(value))) }
        return .object([
            ("command", .string(behavior.command)),
            ("condition", .object(condition)),
            ("response", .object([("code", .int(behavior.code)), ("message", .string(behavior.message))])),
            ("numberOfAnswer", behavior.numberOfAnswer.map(JSONOutput.int) ?? .null),
        ])
    }

    static func parameters(_ list: [MailParameterText]) -> JSONOutput {
        .list(list.map { .object([("name", .string($0.name)), ("value", .string($0.value))]) })
    }

    /// James's stored-mail shape (§5).
    static func output(_ mail: CapturedMail) -> JSONOutput {
        .object([
            ("from", .string(mail.from)),
            ("recipients", .list(mail.recipients.map {
                .object([("address", .string($0.address)), ("parameters", parameters($0.parameters))])
            })),
            ("mailParameters", parameters(mail.mailParameters)),
            ("message", .string(String(decoding: mail.message, as: UTF8.self))),
        ])
    }
}

/// James's routing quirks on the `--james-listen` listener: a trailing
/// slash is another path (404), and nothing but the table answers.
struct JamesStrictPaths<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path.count > 1 && path.hasSuffix("/") { return Response(status: .notFound) }
        return try await next(request, context)
    }
}
