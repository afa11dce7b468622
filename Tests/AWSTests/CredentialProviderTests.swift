import Foundation
import Testing
@testable import SinkholeAWS

@Suite struct CredentialProviderTests {
    static let document = """
    {"AccessKeyId":"ASIAROLE","SecretAccessKey":"role-secret","Token":"role-token","Expiration":"2026-11-24T15:00:00Z","RoleArn":"arn:aws:iam::123456789012:role/sinkhole"}
    """
    static let expiration = ISO8601DateFormatter().date(from: "2026-11-24T15:00:00Z")
    static let roleKeys = AWSCredentials(accessKeyID: "ASIAROLE", secretAccessKey: "role-secret",
                                         sessionToken: "role-token", expiration: expiration)

    // MARK: environment

    @Test func environmentKeysWithAndWithoutToken() async throws {
        let plain = EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"])
        #expect(try await plain.lookup() == .found(AWSCredentials(accessKeyID: "AKIA", secretAccessKey: "s")))
        let temporary = EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "ASIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t",
        ])
        #expect(try await temporary.lookup() == .found(AWSCredentials(accessKeyID: "ASIA", secretAccessKey: "s", sessionToken: "t")))
    }

    @Test func halfSetEnvironmentIsAnError() async {
        await #expect(throws: CredentialError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")) {
            try await EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "AKIA"]).lookup()
        }
    }

    // MARK: ECS container endpoint

    @Test func relativeURIGoesToTheECSAgent() async throws {
        let transport = FakeTransport { _ in json(200, Self.document) }
        let provider = ContainerCredentialProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"],
            transport: transport, timeouts: HTTPTimeouts())
        #expect(try await provider.lookup() == .found(Self.roleKeys))
        let request = try #require(transport.requests.first)
        #expect(request.method == "GET")
        #expect(request.url == "http://169.254.170.2/v2/credentials/abc")
        #expect(request.header("Authorization") == nil)
    }

    @Test func fullURISendsTheTokenAndTheTokenFileWins() async throws {
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID())").path
        try "from-file\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }

        let transport = FakeTransport { _ in json(200, Self.document) }
        let withToken = ContainerCredentialProvider(environment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9911/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-variable",
        ], transport: transport, timeouts: HTTPTimeouts())
        _ = try await withToken.lookup()
        let withFile = ContainerCredentialProvider(environment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9911/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-variable",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
        ], transport: transport, timeouts: HTTPTimeouts())
        _ = try await withFile.lookup()

        #expect(transport.requests.map(\.url) == ["http://127.0.0.1:9911/creds", "http://127.0.0.1:9911/creds"])
        #expect(transport.requests.map { $0.header("Authorization") } == ["from-variable", "from-file"])
    }

    @Test func aRefusedTokenIsAnErrorNamingTheEndpoint() async {
        let transport = FakeTransport { _ in json(401, #"{"message":"bad token"}"#) }
        let provider = ContainerCredentialProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:9911/creds"],
            transport: transport, timeouts: HTTPTimeouts())
        await #expect(throws: CredentialError(
            #"http://localhost:9911/creds answered HTTP 401: {"message":"bad token"}"#)) {
            try await provider.lookup()
        }
    }

    @Test(arguments: [
        ("https://example.com/creds", true), ("http://127.0.0.1:80/c", true), ("http://127.9.9.9/c", true),
        ("http://localhost/c", true), ("http://[::1]:8080/c", true), ("http://169.254.170.2/c", true),
        ("http://169.254.170.23/c", true), ("http://[fd00:ec2::23]/c", true),
        ("http://example.com/creds", false), ("http://10.0.0.1/c", false), ("ftp://127.0.0.1/c", false),
        ("http://127.0.0.1.evil.com/c", false),
    ])
    func fullURIMustBeSafe(url: String, allowed: Bool) {
        #expect(ContainerCredentialProvider.isAllowedFullURI(url) == allowed)
    }

    // MARK: EC2 instance metadata

    @Test func imdsV2TokenThenRoleThenCredentials() async throws {
        let transport = FakeTransport { request in
            switch (request.method, request.url) {
            case ("PUT", "http://169.254.169.254/latest/api/token"):
                return json(200, "imds-token")
            case ("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"):
                return json(200, "sinkhole-role\n")
            case ("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/sinkhole-role"):
                return json(200, Self.document)
            default:
                return json(404, "")
            }
        }
        let provider = InstanceMetadataCredentialProvider(environment: [:], transport: transport, timeouts: HTTPTimeouts())
        #expect(try await provider.lookup() == .found(Self.roleKeys))
        #expect(transport.requests.map(\.method) == ["PUT", "GET", "GET"])
        #expect(transport.requests[0].header("X-aws-ec2-metadata-token-ttl-seconds") == "21600")
        #expect(transport.requests.dropFirst().allSatisfy { $0.header("X-aws-ec2-metadata-token") == "imds-token" })
        #expect(transport.requests[0].connectTimeout == .seconds(1))
    }

    @Test func noMetadataServiceMeansNotConfigured() async throws {
        let transport = FakeTransport { _ in .failure(HTTPTransportError("Connection timed out after 1000 milliseconds", unreachable: true)) }
        let provider = InstanceMetadataCredentialProvider(environment: [:], transport: transport, timeouts: HTTPTimeouts())
        #expect(try await provider.lookup()
            == .notConfigured("no instance metadata service at http://169.254.169.254 (Connection timed out after 1000 milliseconds)"))
    }

    @Test func noRoleMeansNotConfigured() async throws {
        let transport = FakeTransport { request in request.method == "PUT" ? json(200, "t") : json(404, "") }
        let provider = InstanceMetadataCredentialProvider(
            environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1234/"], transport: transport,
            timeouts: HTTPTimeouts())
        #expect(try await provider.lookup() == .notConfigured("the instance has no IAM role"))
        #expect(transport.requests.first?.url == "http://127.0.0.1:1234/latest/api/token")
    }

    @Test func disabledMetadataIsNotAsked() async throws {
        let transport = FakeTransport { _ in json(200, "") }
        let provider = InstanceMetadataCredentialProvider(environment: ["AWS_EC2_METADATA_DISABLED": "TRUE"],
                                                          transport: transport, timeouts: HTTPTimeouts())
        #expect(try await provider.lookup() == .notConfigured("AWS_EC2_METADATA_DISABLED is true"))
        #expect(transport.requests.isEmpty)
    }

    // MARK: shared credentials file

    @Test func sharedFileProfiles() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("credentials-\(UUID())").path
        try """
        # operator's laptop
        [default]
        aws_access_key_id = AKIADEFAULT
        aws_secret_access_key = default/secret+key

        [stage]
        aws_access_key_id=ASIASTAGE
        ; a comment
        aws_secret_access_key=stage-secret
        aws_session_token = stage-token
        """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }

        let byDefault = SharedFileCredentialProvider(environment: ["AWS_SHARED_CREDENTIALS_FILE": path])
        #expect(try await byDefault.lookup() == .found(AWSCredentials(accessKeyID: "AKIADEFAULT", secretAccessKey: "default/secret+key")))
        let stage = SharedFileCredentialProvider(environment: ["AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "stage"])
        #expect(try await stage.lookup()
            == .found(AWSCredentials(accessKeyID: "ASIASTAGE", secretAccessKey: "stage-secret", sessionToken: "stage-token")))
        let missing = SharedFileCredentialProvider(environment: ["AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "prod"])
        #expect(try await missing.lookup() == .notConfigured("\(path) has no [prod] profile"))
    }

    @Test func sharedFileDefaultsToHome() {
        let provider = SharedFileCredentialProvider(environment: ["HOME": "/home/op"])
        #expect(provider.path == "/home/op/.aws/credentials")
        #expect(SharedFileCredentialProvider(environment: ["HOME": "/home/op", "AWS_SHARED_CREDENTIALS_FILE": "~/creds"]).path
            == "/home/op/creds")
    }
}
