import Hummingbird
import NIOCore

/// `GET /`: the operator's page (``WebPage``), which reads and switches
/// everything through the JSON routes under `/api/v1`.
///
/// The page is the same for everyone and holds no data, so it is never
/// cached and never framed, and its policy lets it reach only this origin.
struct WebPageRoutes: Sendable {
    /// Only this origin, plus the page's own inline script and style.
    static let contentSecurityPolicy = "default-src 'self'; script-src 'unsafe-inline' 'self'; "
        + "style-src 'unsafe-inline' 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

    func add(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .cacheControl: "no-store",
                    .contentSecurityPolicy: Self.contentSecurityPolicy,
                    .xContentTypeOptions: "nosniff",
                ],
                body: ResponseBody(byteBuffer: ByteBuffer(string: WebPage.html))
            )
        }
        // Browsers ask for it; nothing to send, and no 404 (or 401) line for it.
        router.get("favicon.ico") { _, _ in Response(status: .noContent) }
    }
}
