import Hummingbird
import NIOCore
import SinkholePolicy

/// `GET /api/v1/events`: server-sent events (`text/event-stream`), one per
/// message captured, session closed, mode change and rule used up, with a
/// comment line every 15 s so proxies keep the stream open.
struct EventRoutes: Sendable {
    let events: EventHub?

    func add(to router: Router<BasicRequestContext>) {
        router.get("api/v1/events") { _, _ -> Response in
            guard let events else {
                return MailpitRoutes.error("events are off", field: "events", status: .conflict)
            }
            guard let stream = events.subscribe() else {
                return MailpitRoutes.error("at most \(EventHub.maxListeners) listeners at once", field: "events",
                                           status: .tooManyRequests)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: ": sinkhole events\n\n"))
                    // Events and a keep-alive every 15 s, in one stream; it ends when
                    // the client goes away (the write fails) or sinkhole stops.
                    let combined = AsyncStream<ServerEvent?>(bufferingPolicy: .bufferingNewest(EventHub.buffer)) { continuation in
                        let forward = Task {
                            for await event in stream { continuation.yield(event) }
                            continuation.finish()
                        }
                        let beat = Task {
                            while !Task.isCancelled {
                                try? await Task.sleep(for: .seconds(15))
                                continuation.yield(nil)
                            }
                        }
                        continuation.onTermination = { _ in forward.cancel(); beat.cancel() }
                    }
                    for await event in combined {
                        try await writer.write(ByteBuffer(string: event.map(Self.frame) ?? ": keep-alive\n\n"))
                    }
                    try await writer.finish(nil)
                }
            )
        }
    }

    static func frame(_ event: ServerEvent) -> String {
        let data = JSONOutput.object([("type", .string(event.kind.rawValue))] + event.fields.map { ($0.0, .string($0.1)) }).text
        return "event: \(event.kind.rawValue)\ndata: \(data)\n\n"
    }
}
