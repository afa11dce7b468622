import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOPosix

/// 1. `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for temporary keys, `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: CredentialProvider {
    let environment: [String: String]

    public init(environment: [String: String]) { self.environment = environment }

    public var name: String { "the environment" }

    public func lookup() async throws(CredentialError) -> CredentialLookup {
        let key = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (key, secret) {
        case (nil, nil):
            return .notConfigured("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        case (.some, nil):
            throw CredentialError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (nil, .some):
            throw CredentialError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case let (.some(key), .some(secret)):
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return .found(AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token))
        }
    }
}

/// 2. The ECS task role: the container credentials endpoint the ECS agent
/// serves at 169.254.170.2 (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`), or a
/// full URI (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, EKS Pod Identity and
/// tests) with an authorization token from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
/// (read on every fetch: it is rotated) or `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
public struct ContainerCredentialProvider: CredentialProvider {
    static let ecsHost = "http://169.254.170.2"
    let environment: [String: String]
    let transport: any HTTPTransport
    let timeouts: HTTPTimeouts

    public init(environment: [String: String], transport: any HTTPTransport, timeouts: HTTPTimeouts) {
        self.environment = environment
        self.transport = transport
        self.timeouts = timeouts
    }

    public var name: String { "the ECS container credentials endpoint" }

    public func lookup() async throws(CredentialError) -> CredentialLookup {
        let url: String
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = Self.ecsHost + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            guard Self.isAllowedFullURI(full) else {
                throw CredentialError("AWS_CONTAINER_CREDENTIALS_FULL_URI \(full) must be https, or http to a loopback or ECS/EKS link-local address")
            }
            url = full
        } else {
            return .notConfigured("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set")
        }

        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let token = try await authorizationToken() {
            headers.append(("Authorization", token))
        }
        let response: HTTPResponse
        do {
            response = try await transport.send(HTTPRequest(
                method: "GET", url: url, headers: headers,
                connectTimeout: timeouts.connect, timeout: timeouts.request))
        } catch {
            throw CredentialError("\(url): \(error.reason)")
        }
        guard response.status == 200 else {
            throw CredentialError("\(url) answered HTTP \(response.status)\(snippet(response.body))")
        }
        return .found(try TemporaryCredentialsDocument.parse(response.body, from: url))
    }

    private func authorizationToken() async throws(CredentialError) -> String? {
        if let path = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !path.isEmpty {
            switch await SmallFile.read(path) {
            case .contents(let bytes):
                let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !token.isEmpty else { throw CredentialError("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path) is empty") }
                return token
            case .missing:
                throw CredentialError("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path): no such file")
            case .failed(let reason):
                throw CredentialError("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path): \(reason)")
            }
        }
        if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !token.isEmpty { return token }
        return nil
    }

    /// The SDKs' rule: a full URI is https, or http to loopback or to the
    /// ECS (169.254.170.2) and EKS (169.254.170.23, fd00:ec2::23) agents.
    static func isAllowedFullURI(_ text: String) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              let host = components.host?.lowercased() else { return false }
        if scheme == "https" { return true }
        guard scheme == "http" else { return false }
        let bareHost = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if ["localhost", "::1", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"].contains(bareHost) { return true }
        let octets = bareHost.split(separator: ".")
        return octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

/// 3. EC2 instance metadata, IMDSv2: a session token by `PUT`, then the
/// instance role's name and its credentials. `AWS_EC2_METADATA_DISABLED=true`
/// skips it; `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it (tests).
public struct InstanceMetadataCredentialProvider: CredentialProvider {
    let environment: [String: String]
    let transport: any HTTPTransport
    let timeouts: HTTPTimeouts

    public init(environment: [String: String], transport: any HTTPTransport, timeouts: HTTPTimeouts) {
        self.environment = environment
        self.transport = transport
        self.timeouts = timeouts
    }

    public var name: String { "EC2 instance metadata" }

    var endpoint: String {
        var endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://169.254.169.254"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        return endpoint
    }

    public func lookup() async throws(CredentialError) -> CredentialLookup {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            return .notConfigured("AWS_EC2_METADATA_DISABLED is true")
        }
        // Not on EC2 (a laptop, a CI runner): the token request gets no answer.
        // That is "not here", not an error, and costs at most the connect timeout.
        let tokenResponse: HTTPResponse
        do {
            tokenResponse = try await send("PUT", "/latest/api/token", [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
        } catch {
            return .notConfigured("no instance metadata service at \(endpoint) (\(error.reason))")
        }
        guard tokenResponse.status == 200, !tokenResponse.body.isEmpty else {
            return .notConfigured("\(endpoint) refused an IMDSv2 token (HTTP \(tokenResponse.status))")
        }
        let token: (name: String, value: String) = ("X-aws-ec2-metadata-token", tokenResponse.text)

        let roleResponse = try await sendOrFail("GET", "/latest/meta-data/iam/security-credentials/", [token])
        if roleResponse.status == 404 {
            return .notConfigured("the instance has no IAM role")
        }
        guard roleResponse.status == 200,
              let role = roleResponse.text.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw CredentialError("\(endpoint) answered HTTP \(roleResponse.status) for the instance role")
        }
        let credentials = try await sendOrFail("GET", "/latest/meta-data/iam/security-credentials/\(role)", [token])
        guard credentials.status == 200 else {
            throw CredentialError("\(endpoint) answered HTTP \(credentials.status) for role \(role)'s credentials")
        }
        return .found(try TemporaryCredentialsDocument.parse(credentials.body, from: "role \(role) at \(endpoint)"))
    }

    private func send(_ method: String, _ path: String, _ headers: [(name: String, value: String)]) async throws(HTTPTransportError) -> HTTPResponse {
        // The metadata service is on the host: a short connect timeout keeps
        // sinkhole's start quick where there is none.
        try await transport.send(HTTPRequest(
            method: method, url: endpoint + path, headers: headers,
            connectTimeout: min(timeouts.connect, .seconds(1)), timeout: timeouts.request))
    }

    private func sendOrFail(_ method: String, _ path: String, _ headers: [(name: String, value: String)]) async throws(CredentialError) -> HTTPResponse {
        do {
            return try await send(method, path, headers)
        } catch {
            throw CredentialError("\(endpoint): \(error.reason)")
        }
    }
}

/// 4. The shared credentials file: `AWS_SHARED_CREDENTIALS_FILE`, else
/// `~/.aws/credentials`; profile `AWS_PROFILE`, else `default`.
public struct SharedFileCredentialProvider: CredentialProvider {
    let environment: [String: String]

    public init(environment: [String: String]) { self.environment = environment }

    public var name: String { "the shared credentials file" }

    var path: String {
        if let path = environment["AWS_SHARED_CREDENTIALS_FILE"], !path.isEmpty {
            return Self.expandingHome(path, home: environment["HOME"])
        }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.aws/credentials"
    }

    var profile: String { environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default" }

    public func lookup() async throws(CredentialError) -> CredentialLookup {
        let path = path
        let text: String
        switch await SmallFile.read(path) {
        case .missing:
            return .notConfigured("\(path) does not exist")
        case .failed(let reason):
            throw CredentialError("\(path): \(reason)")
        case .contents(let bytes):
            text = String(decoding: bytes, as: UTF8.self)
        }
        guard let section = INIFile.sections(text)[profile] else {
            return .notConfigured("\(path) has no [\(profile)] profile")
        }
        guard let key = section["aws_access_key_id"], !key.isEmpty,
              let secret = section["aws_secret_access_key"], !secret.isEmpty else {
            throw CredentialError("\(path) profile [\(profile)] lacks aws_access_key_id or aws_secret_access_key")
        }
        let token = section["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
        return .found(AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token))
    }

    static func expandingHome(_ path: String, home: String?) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return (home ?? NSHomeDirectory()) + path.dropFirst()
    }
}

/// The INI dialect of `~/.aws/credentials`: `[profile]` sections of
/// `key = value` lines; `#` and `;` start comment lines.
enum INIFile {
    static func sections(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current]?[key] = value
        }
        return sections
    }
}

/// Connect and whole-request timeouts for sinkhole's HTTP calls.
public struct HTTPTimeouts: Sendable, Equatable {
    public var connect: Duration
    public var request: Duration

    public init(connect: Duration = .seconds(2), request: Duration = .seconds(5)) {
        self.connect = connect
        self.request = request
    }
}

/// Reads a small file on NIO's blocking-I/O pool, off the event loops.
enum SmallFile {
    enum Outcome: Sendable {
        case contents([UInt8])
        case missing
        case failed(String)
    }

    static let limit = 64 * 1024

    static func read(_ path: String) async -> Outcome {
        do {
            return try await NIOThreadPool.singleton.runIfActive { readBlocking(path) }
        } catch {
            return .failed("no thread to read it on: \(error)")
        }
    }

    static func readBlocking(_ path: String) -> Outcome {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            return errno == ENOENT ? .missing : .failed(String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failed(String(cString: strerror(errno)))
            }
            if count == 0 { return .contents(bytes) }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit { return .failed("larger than \(limit) bytes") }
        }
    }
}

func snippet(_ body: [UInt8]) -> String {
    let text = String(decoding: body.prefix(200), as: UTF8.self)
        .map { $0.isASCII && !$0.isNewline && $0 != "\t" ? String($0) : " " }.joined()
        .trimmingCharacters(in: .whitespaces)
    return text.isEmpty ? "" : ": \(text)"
}
