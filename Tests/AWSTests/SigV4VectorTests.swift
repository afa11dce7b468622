import Foundation
import Testing
@testable import SinkholeAWS

/// libcurl signs sinkhole's SSM requests (`CURLOPT_AWS_SIGV4`). These tests
/// send each request botocore signed in `Fixtures/sigv4_vectors.json` (made by
/// `Fixtures/make_sigv4_vectors.py` for a fixed date and example keys) through
/// ``CurlTransport`` to a local server, with the vector's `X-Amz-Date`, and
/// compare the `Authorization` header libcurl computed with botocore's.
@Suite struct SigV4VectorTests {
    struct Vector: Decodable, CustomTestStringConvertible {
        var name: String
        var method: String
        var url: String
        var region: String
        var service: String
        var amz_date: String
        var access_key: String
        var secret_key: String
        var session_token: String?
        var headers: [String: String]
        var body: String
        var signed_headers: String
        var authorization: String

        var testDescription: String { name }
    }

    struct VectorFile: Decodable {
        var generator: String
        var vectors: [Vector]
    }

    static let vectors: [Vector] = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sigv4_vectors.json")
        guard let data = try? Data(contentsOf: path),
              let file = try? JSONDecoder().decode(VectorFile.self, from: data) else { return [] }
        return file.vectors
    }()

    @Test func fixturesAreThere() {
        #expect(Self.vectors.count >= 4)
    }

    @Test(arguments: vectors)
    func libcurlSignsAsBotocoreDoes(_ vector: Vector) async throws {
        let server = try await CaptureServer(body: #"{"Parameter":{"Value":"defer"}}"#)
        // The vector's URL, over plain HTTP to the local server: an https URL
        // on its default port has the same Host header as http on port 80.
        guard var components = URLComponents(string: vector.url), let host = components.host else {
            Issue.record("bad url \(vector.url)")
            return
        }
        let port = components.port ?? 80
        components.scheme = "http"
        if components.port == nil { components.port = nil }
        let transport = CurlTransport(connectTo: ["\(host):\(port):127.0.0.1:\(server.port)"])

        var headers: [(name: String, value: String)] = vector.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        // Only the test sets the date: libcurl then signs with it (and sends it twice).
        headers.append(("X-Amz-Date", vector.amz_date))
        let request = HTTPRequest(
            method: vector.method, url: components.string!, headers: headers, body: Array(vector.body.utf8),
            signing: SigV4Signing(region: vector.region, service: vector.service, credentials: AWSCredentials(
                accessKeyID: vector.access_key, secretAccessKey: vector.secret_key, sessionToken: vector.session_token)))
        let response = try await transport.send(request)
        try await server.close()

        #expect(response.status == 200)
        let raw = try #require(server.requests.first)
        #expect(headerValues("Authorization", in: raw) == [vector.authorization])
        #expect(raw.hasSuffix("\r\n\r\n" + vector.body))
        if let token = vector.session_token {
            #expect(headerValues("X-Amz-Security-Token", in: raw) == [token])
            #expect(vector.signed_headers.contains("x-amz-security-token"))
        }
    }

    /// What sinkhole really sends: no X-Amz-Date of its own (libcurl adds one),
    /// the token as a signed header, the body whole, no secret on the wire.
    @Test func theSSMRequestOnTheWire() async throws {
        let server = try await CaptureServer(body: #"{"Parameter":{"Name":"/cabal/sinkhole_mode","Value":"accept"}}"#)
        let credentials = AWSCredentials(accessKeyID: "ASIAEXAMPLE", secretAccessKey: "very-secret", sessionToken: "the-token")
        let source = SSMModeSource(
            parameter: "/cabal/sinkhole_mode", withDecryption: true, region: "eu-west-2",
            endpoint: "http://127.0.0.1:\(server.port)/",
            credentials: CredentialChain(providers: [StaticCredentials(credentials)]))
        let mode = try await source.fetch()
        try await server.close()

        #expect(mode == "accept")
        let raw = try #require(server.requests.first)
        #expect(raw.hasPrefix("POST / HTTP/1.1\r\n"))
        #expect(headerValues("X-Amz-Date", in: raw).count == 1)
        #expect(headerValues("X-Amz-Target", in: raw) == ["AmazonSSM.GetParameter"])
        #expect(headerValues("Content-Type", in: raw) == ["application/x-amz-json-1.1"])
        #expect(headerValues("X-Amz-Security-Token", in: raw) == ["the-token"])
        let authorization = try #require(headerValues("Authorization", in: raw).first)
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/"))
        #expect(authorization.contains("/eu-west-2/ssm/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="))
        #expect(!raw.contains("very-secret"))
        #expect(raw.hasSuffix("\r\n\r\n" + #"{"Name":"/cabal/sinkhole_mode","WithDecryption":true}"#))
    }
}

/// Fixed credentials for tests.
struct StaticCredentials: CredentialProvider {
    let credentials: AWSCredentials
    init(_ credentials: AWSCredentials) { self.credentials = credentials }
    var name: String { "static test credentials" }
    func lookup() async throws(CredentialError) -> CredentialLookup { .found(credentials) }
}
