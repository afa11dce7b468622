import Foundation

/// One HTTP request as sinkhole's AWS calls make them: small, with a small answer.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// When set, the transport signs the request with AWS Signature Version 4.
    public var signing: SigV4Signing?
    public var connectTimeout: Duration
    public var timeout: Duration

    public init(
        method: String,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        signing: SigV4Signing? = nil,
        connectTimeout: Duration = .seconds(2),
        timeout: Duration = .seconds(5)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.signing = signing
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }
}

/// What signing a request with SigV4 needs: the scope and the credentials.
public struct SigV4Signing: Sendable {
    public var region: String
    public var service: String
    public var credentials: AWSCredentials

    public init(region: String, service: String, credentials: AWSCredentials) {
        self.region = region
        self.service = service
        self.credentials = credentials
    }
}

public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A request that got no HTTP answer: no connection, a timeout, TLS refused,
/// or an answer larger than the transport takes.
public struct HTTPTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    /// `true` when the peer could not be reached at all (refused, unroutable,
    /// connect timeout), as opposed to failing part-way.
    public var unreachable: Bool

    public init(_ reason: String, unreachable: Bool = false) {
        self.reason = reason
        self.unreachable = unreachable
    }

    public var description: String { reason }
}

/// Sends HTTP requests. ``CurlTransport`` in the product; tests use fakes.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse
}
