import Foundation
import ModeSources
import Synchronization

/// The mode read from an AWS Systems Manager parameter with `GetParameter`,
/// the way operators switch it: `aws ssm put-parameter --name /cabal/sinkhole_mode --value accept --overwrite`.
///
/// The call is SSM's JSON protocol (`POST /`, `X-Amz-Target: AmazonSSM.GetParameter`),
/// signed with SigV4 by libcurl. Errors carry the AWS error code, the HTTP
/// status and the parameter for the log line; throttling asks the refresher to
/// back off, doubling up to ``maxBackoff``.
public final class SSMModeSource: ModeSource {
    public let parameter: String
    public let withDecryption: Bool
    public let region: String
    public let endpoint: String
    public let credentials: CredentialChain
    let transport: any HTTPTransport
    let timeouts: HTTPTimeouts
    private let throttles = Mutex<Int>(0)

    public static let firstBackoff: Duration = .seconds(5)
    public static let maxBackoff: Duration = .seconds(300)

    public init(
        parameter: String,
        withDecryption: Bool = false,
        region: String,
        endpoint: String,
        credentials: CredentialChain,
        transport: any HTTPTransport = CurlTransport(),
        timeouts: HTTPTimeouts = HTTPTimeouts()
    ) {
        self.parameter = parameter
        self.withDecryption = withDecryption
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
        self.transport = transport
        self.timeouts = timeouts
    }

    public var name: String { "ssm:\(parameter)" }
    public var changes: Bool { true }
    public var failureAtStartIsFatal: Bool { false }

    private struct GetParameterRequest: Encodable {
        var name: String
        var withDecryption: Bool?
        enum CodingKeys: String, CodingKey {
            case name = "Name"
            case withDecryption = "WithDecryption"
        }
    }

    private struct GetParameterResponse: Decodable {
        struct Parameter: Decodable {
            var value: String
            enum CodingKeys: String, CodingKey { case value = "Value" }
        }
        var parameter: Parameter
        enum CodingKeys: String, CodingKey { case parameter = "Parameter" }
    }

    /// The `GetParameter` request, unsigned credentials aside.
    public func request(credentials: AWSCredentials) -> HTTPRequest {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(GetParameterRequest(name: parameter, withDecryption: withDecryption ? true : nil))) ?? Data()
        return HTTPRequest(
            method: "POST",
            url: endpoint,
            headers: [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "AmazonSSM.GetParameter"),
            ],
            body: Array(body),
            signing: SigV4Signing(region: region, service: "ssm", credentials: credentials),
            connectTimeout: timeouts.connect,
            timeout: timeouts.request
        )
    }

    public func fetch() async throws(ModeSourceError) -> String {
        var details = ["parameter": parameter]
        let keys: AWSCredentials
        do {
            keys = try await credentials.credentials()
        } catch {
            throw ModeSourceError("no AWS credentials: \(error.reason)", details: details)
        }
        let response: HTTPResponse
        do {
            response = try await transport.send(request(credentials: keys))
        } catch {
            throw ModeSourceError("SSM GetParameter at \(endpoint) failed: \(error.reason)", details: details)
        }
        details["http_status"] = "\(response.status)"

        guard response.status == 200 else {
            let failure = AWSErrorResponse.parse(status: response.status, body: response.body)
            if let code = failure.code { details["aws_error"] = code }
            var reason = "SSM GetParameter \(parameter): \(failure.code ?? "HTTP \(response.status)")"
            if let message = failure.message, !message.isEmpty { reason += ": \(message.prefix(300))" }
            if failure.code == nil { reason += snippet(response.body) }
            var retryAfter: Duration?
            if failure.isThrottling {
                let count = throttles.withLock { count -> Int in
                    count += 1
                    return count
                }
                retryAfter = min(Self.firstBackoff * (1 << min(count - 1, 10)), Self.maxBackoff)
            }
            throw ModeSourceError(reason, details: details, retryAfter: retryAfter)
        }
        throttles.withLock { $0 = 0 }
        do {
            return try JSONDecoder().decode(GetParameterResponse.self, from: Data(response.body)).parameter.value
        } catch {
            throw ModeSourceError("SSM GetParameter \(parameter): answer without Parameter.Value\(snippet(response.body))",
                                  details: details)
        }
    }
}
