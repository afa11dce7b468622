import Hummingbird
import NIOCore

/// On the main listener, `/api/...` answers in JSON when nothing matched:
/// `405` with `Allow` for a known path and the wrong method, `404` for an
/// unknown path. The open plain-text routes (`/healthz`, `/readyz`, `/livez`,
/// `/metrics`, `/`, `/favicon.ico`) answer a wrong method with a plain-text
/// `405` and `Allow: GET`. (James's routes keep James's empty 404s.)
struct NativeRouteErrors<Context: RequestContext>: RouterMiddleware {
    /// Each native route: its path (`:name` matches one component) and methods.
    static var routes: [(path: [Substring], methods: [HTTPRequest.Method])] {
        [
            ("api/v1/messages", [.get, .put, .delete]), ("api/v1/messages/wait", [.get]),
            ("api/v1/search", [.get, .delete]), ("api/v1/message/:id", [.get]),
            ("api/v1/message/:id/headers", [.get]), ("api/v1/message/:id/raw", [.get]),
            ("api/v1/info", [.get]), ("api/v1/chaos", [.get, .put]), ("api/v1/mode", [.get, .put, .delete]),
            ("api/v1/sessions", [.get]), ("api/v1/sessions/:id", [.get]), ("api/v1/verify", [.post]),
            ("api/v1/rules", [.get, .post, .delete]), ("api/v1/rules/:id", [.get, .patch, .delete]),
            ("api/v1/reset", [.post]), ("api/v1/events", [.get]), ("api/v1/clock", [.get, .post]), ("api/v1/greylist", [.get, .delete]), ("api/v1/greylist/:key/pass", [.post]),
            ("api/v1/openapi.json", [.get]),
        ].map { ($0.0.split(separator: "/"), $0.1) }
    }

    /// The open routes outside `/api/`, all GET only.
    static var plainRoutes: Set<String> { ["/healthz", "/readyz", "/livez", "/metrics", "/", "/favicon.ico"] }

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            if Self.plainRoutes.contains(path) {
                return Response(status: .methodNotAllowed,
                                headers: [.allow: "GET", .contentType: "text/plain; charset=utf-8"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: "\(request.method) is not allowed here (allowed: GET)\n")))
            }
            guard path.hasPrefix("/api/") else { throw error }
            let components = path.split(separator: "/")
            if let route = Self.routes.first(where: { route in
                route.path.count == components.count
                    && zip(route.path, components).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
            }) {
                var response = MailpitRoutes.error("\(request.method) is not allowed here (allowed: "
                    + route.methods.map(\.rawValue).joined(separator: ", ") + ")", field: "method", status: .methodNotAllowed)
                response.headers[.allow] = route.methods.map(\.rawValue).joined(separator: ", ")
                return response
            }
            return MailpitRoutes.error("no such route: \(path)", field: "path", status: .notFound)
        }
        catch is NIOTooManyBytesError where request.uri.path.hasPrefix("/api/") {
            return MailpitRoutes.error("the body is larger than this route takes (1 MiB; 64 KiB for mode, verify and clock)",
                                       field: "body", status: .contentTooLarge)
        }
    }
}
