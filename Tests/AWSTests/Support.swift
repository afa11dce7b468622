import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import SinkholeAWS

/// A transport that answers from a table and records what it was asked.
final class FakeTransport: HTTPTransport, Sendable {
    typealias Answer = @Sendable (HTTPRequest) -> Result<HTTPResponse, HTTPTransportError>
    private let answer: Answer
    private let recorded = NIOLockedValueBox<[HTTPRequest]>([])

    init(_ answer: @escaping Answer) { self.answer = answer }

    var requests: [HTTPRequest] { recorded.withLockedValue { $0 } }

    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        recorded.withLockedValue { $0.append(request) }
        return try answer(request).get()
    }
}

extension HTTPRequest {
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

func json(_ status: Int, _ text: String) -> Result<HTTPResponse, HTTPTransportError> {
    .success(HTTPResponse(status: status, body: Array(text.utf8)))
}

/// An HTTP server on 127.0.0.1 that records each raw request and answers
/// every one with the same response.
final class CaptureServer: Sendable {
    let channel: any Channel
    private let captured = NIOLockedValueBox<[String]>([])

    var port: Int { channel.localAddress!.port! }

    /// `answers: false` takes requests and never answers them.
    init(status: Int = 200, body: String = "{}", answers: Bool = true) async throws {
        let box = captured
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Recorded before the answer is written: once the client has
                    // its answer, the request is in `requests`.
                    try channel.pipeline.syncOperations.addHandler(CaptureHandler(status: status, body: body, answers: answers) { request in
                        box.withLockedValue { $0.append(request) }
                    })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var requests: [String] { captured.withLockedValue { $0 } }

    func close() async throws { try await channel.close() }
}

private final class CaptureHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let status: Int
    let body: String
    let answers: Bool
    let onRequest: @Sendable (String) -> Void
    var buffer = ""

    init(status: Int, body: String, answers: Bool, onRequest: @escaping @Sendable (String) -> Void) {
        self.status = status
        self.body = body
        self.answers = answers
        self.onRequest = onRequest
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer += bytes.readString(length: bytes.readableBytes) ?? ""
        guard let end = buffer.range(of: "\r\n\r\n") else { return }
        let head = buffer[..<end.lowerBound]
        let length = head.split(separator: "\r\n").compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first ?? 0
        guard buffer.utf8.count - buffer[..<end.upperBound].utf8.count >= length else { return }
        onRequest(buffer)
        guard answers else { return }
        let response = "HTTP/1.1 \(status) X\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: promise)
        let channel = context.channel
        promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Header `name`'s values in a raw HTTP request, in order.
func headerValues(_ name: String, in request: String) -> [String] {
    let head = request.components(separatedBy: "\r\n\r\n").first ?? ""
    return head.components(separatedBy: "\r\n").dropFirst().compactMap { line in
        guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name.lowercased() else { return nil }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
