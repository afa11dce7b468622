import Foundation
import ModeSources
import NIOConcurrencyHelpers
import Testing
@testable import SinkholeAWS

@Suite struct SSMModeSourceTests {
    func source(_ transport: FakeTransport, decrypt: Bool = false) -> SSMModeSource {
        SSMModeSource(
            parameter: "/cabal/sinkhole_mode", withDecryption: decrypt, region: "us-east-1",
            endpoint: "https://ssm.us-east-1.amazonaws.com/",
            credentials: CredentialChain(providers: [StaticCredentials(AWSCredentials(accessKeyID: "AKIA", secretAccessKey: "s"))]),
            transport: transport)
    }

    @Test func getParameterRequest() async throws {
        let transport = FakeTransport { _ in json(200, #"{"Parameter":{"Name":"/cabal/sinkhole_mode","Type":"String","Value":"bounce","Version":4}}"#) }
        #expect(try await source(transport).fetch() == "bounce")
        let request = try #require(transport.requests.first)
        #expect(request.method == "POST")
        #expect(request.url == "https://ssm.us-east-1.amazonaws.com/")
        #expect(request.header("X-Amz-Target") == "AmazonSSM.GetParameter")
        #expect(request.header("Content-Type") == "application/x-amz-json-1.1")
        #expect(request.header("X-Amz-Date") == nil)
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"Name":"/cabal/sinkhole_mode"}"#)
        #expect(request.signing?.region == "us-east-1")
        #expect(request.signing?.service == "ssm")
        #expect((request.connectTimeout, request.timeout) == (.seconds(2), .seconds(5)))

        _ = try await source(transport, decrypt: true).fetch()
        #expect(String(decoding: transport.requests[1].body, as: UTF8.self)
            == #"{"Name":"/cabal/sinkhole_mode","WithDecryption":true}"#)
    }

    @Test func errorsCarryCodeStatusAndParameter() async {
        let transport = FakeTransport { _ in json(400, #"{"__type":"ParameterNotFound","message":"Parameter /cabal/sinkhole_mode not found."}"#) }
        await #expect(throws: ModeSourceError(
            "SSM GetParameter /cabal/sinkhole_mode: ParameterNotFound: Parameter /cabal/sinkhole_mode not found.",
            details: ["aws_error": "ParameterNotFound", "http_status": "400", "parameter": "/cabal/sinkhole_mode"])) {
            try await source(transport).fetch()
        }
    }

    @Test func aBodyWithoutCodeIsShown() async {
        let transport = FakeTransport { _ in json(502, "<html>Bad Gateway</html>") }
        await #expect(throws: ModeSourceError(
            "SSM GetParameter /cabal/sinkhole_mode: HTTP 502: <html>Bad Gateway</html>",
            details: ["http_status": "502", "parameter": "/cabal/sinkhole_mode"])) {
            try await source(transport).fetch()
        }
    }

    @Test func throttlingBacksOffDoublingAndResetsOnSuccess() async {
        let throttling = NIOLockedValueBox(true)
        let transport = FakeTransport { _ in
            throttling.withLockedValue { $0 }
                ? json(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
                : json(200, #"{"Parameter":{"Value":"accept"}}"#)
        }
        let ssm = source(transport)
        func waits(_ count: Int) async -> [Duration?] {
            var waits: [Duration?] = []
            for _ in 0..<count {
                do { _ = try await ssm.fetch() } catch { waits.append(error.retryAfter) }
            }
            return waits
        }
        #expect(await waits(8) == [.seconds(5), .seconds(10), .seconds(20), .seconds(40), .seconds(80), .seconds(160),
                                   .seconds(300), .seconds(300)])
        throttling.withLockedValue { $0 = false }
        #expect(await waits(1) == [])
        throttling.withLockedValue { $0 = true }
        #expect(await waits(1) == [.seconds(5)])
    }

    @Test func transportFailureIsAnError() async {
        let transport = FakeTransport { _ in .failure(HTTPTransportError("Could not resolve host: ssm.us-east-1.amazonaws.com")) }
        await #expect(throws: ModeSourceError(
            "SSM GetParameter at https://ssm.us-east-1.amazonaws.com/ failed: Could not resolve host: ssm.us-east-1.amazonaws.com",
            details: ["parameter": "/cabal/sinkhole_mode"])) {
            try await source(transport).fetch()
        }
    }

    @Test func regionAndEndpoint() {
        #expect(AWSEndpoints.region(flag: nil, environment: ["AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "us-east-1"],
                                    configured: "ap-south-1") == "eu-west-2")
        #expect(AWSEndpoints.region(flag: nil, environment: ["AWS_DEFAULT_REGION": "us-east-1"], configured: "ap-south-1") == "us-east-1")
        #expect(AWSEndpoints.region(flag: nil, environment: [:], configured: "ap-south-1") == "ap-south-1")
        #expect(AWSEndpoints.region(flag: "sa-east-1", environment: ["AWS_REGION": "eu-west-2"], configured: nil) == "sa-east-1")
        #expect(AWSEndpoints.region(flag: nil, environment: [:], configured: nil) == nil)

        #expect(AWSEndpoints.ssm(region: "eu-west-2", environment: [:]) == "https://ssm.eu-west-2.amazonaws.com/")
        #expect(AWSEndpoints.ssm(region: "cn-north-1", environment: [:]) == "https://ssm.cn-north-1.amazonaws.com.cn/")
        #expect(AWSEndpoints.ssm(region: "us-east-1", environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:5000"])
            == "http://127.0.0.1:5000/")
        #expect(AWSEndpoints.ssm(region: "us-east-1", environment: [
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_SSM": "https://vpce-1.ssm.us-east-1.vpce.amazonaws.com/",
        ]) == "https://vpce-1.ssm.us-east-1.vpce.amazonaws.com/")
    }
}

@Suite struct CurlTransportTests {
    @Test func statusAndBody() async throws {
        let server = try await CaptureServer(status: 404, body: "nothing here")
        let response = try await CurlTransport().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/x"))
        try await server.close()
        #expect(response == HTTPResponse(status: 404, body: Array("nothing here".utf8)))
        #expect(server.requests.first?.hasPrefix("GET /x HTTP/1.1\r\n") == true)
    }

    @Test func putWithoutBody() async throws {
        let server = try await CaptureServer(body: "token")
        let response = try await CurlTransport().send(HTTPRequest(method: "PUT", url: "http://127.0.0.1:\(server.port)/latest/api/token",
                                                                  headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")]))
        try await server.close()
        #expect(response.text == "token")
        let raw = try #require(server.requests.first)
        #expect(raw.hasPrefix("PUT /latest/api/token HTTP/1.1\r\n"))
        #expect(headerValues("Content-Length", in: raw) == ["0"])
    }

    @Test func refusedConnectionIsUnreachable() async throws {
        // A port just freed: nothing listens there.
        let server = try await CaptureServer()
        let port = server.port
        try await server.close()
        await #expect(throws: HTTPTransportError.self) {
            try await CurlTransport().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/"))
        }
        do {
            _ = try await CurlTransport().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/"))
        } catch {
            #expect(error.unreachable)
        }
    }

    @Test func answersPastTheLimitAreRefused() async throws {
        let server = try await CaptureServer(body: String(repeating: "x", count: CurlTransport.responseLimit + 1))
        await #expect(throws: HTTPTransportError("answer larger than \(CurlTransport.responseLimit) bytes")) {
            try await CurlTransport().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/"))
        }
        try await server.close()
    }

    /// Shutdown cancels the refresh task: the transfer stops within libcurl's
    /// progress interval (about a second), not at the 30 s timeout.
    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let server = try await CaptureServer(answers: false)
        let started = ContinuousClock.now
        let task = Task {
            try await CurlTransport().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/", timeout: .seconds(30)))
        }
        while server.requests.isEmpty { await Task.yield() }
        task.cancel()
        await #expect(throws: HTTPTransportError("cancelled: sinkhole is stopping")) { try await task.value }
        #expect(ContinuousClock.now - started < .seconds(5))
        try await server.close()
    }

    @Test func onlyHTTPAndHTTPS() async {
        await #expect(throws: HTTPTransportError.self) {
            try await CurlTransport().send(HTTPRequest(method: "GET", url: "file:///etc/passwd"))
        }
    }
}
