import Foundation

/// Keys that sign AWS requests. `description` never shows the secret or the token.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When temporary credentials stop working; `nil` for long-lived keys.
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "AWSCredentials(\(accessKeyID), secret redacted\(sessionToken == nil ? "" : ", session token redacted"))"
    }
}

/// Why credentials could not be had. The reason names the place and never a secret.
public struct CredentialError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// What one place in the credential chain holds.
public enum CredentialLookup: Sendable, Equatable {
    case found(AWSCredentials)
    /// The place is not set up (its variables are unset, its file is absent):
    /// the chain looks at the next one. The text says what was missing.
    case notConfigured(String)
}

/// One place credentials come from. A place that is configured but fails
/// (an endpoint answering 401, a file without a secret) throws: the chain then
/// stops there, as the AWS SDKs do, rather than quietly using another identity.
public protocol CredentialProvider: Sendable {
    /// The place, as said in errors: "the environment", "the ECS container credentials endpoint".
    var name: String { get }
    func lookup() async throws(CredentialError) -> CredentialLookup
}

/// The JSON the ECS container endpoint and EC2 instance metadata serve.
struct TemporaryCredentialsDocument: Decodable {
    var accessKeyId: String
    var secretAccessKey: String
    var token: String?
    var expiration: String?

    enum CodingKeys: String, CodingKey {
        case accessKeyId = "AccessKeyId"
        case secretAccessKey = "SecretAccessKey"
        case token = "Token"
        case expiration = "Expiration"
    }

    static func parse(_ body: [UInt8], from place: String) throws(CredentialError) -> AWSCredentials {
        let document: TemporaryCredentialsDocument
        do {
            document = try JSONDecoder().decode(TemporaryCredentialsDocument.self, from: Data(body))
        } catch {
            throw CredentialError("\(place) answered something that is not a credentials document")
        }
        var expiration: Date?
        if let text = document.expiration {
            guard let date = parseISO8601(text) else {
                throw CredentialError("\(place) gave an unreadable Expiration \"\(text.prefix(40))\"")
            }
            expiration = date
        }
        guard !document.accessKeyId.isEmpty, !document.secretAccessKey.isEmpty else {
            throw CredentialError("\(place) gave empty credentials")
        }
        return AWSCredentials(accessKeyID: document.accessKeyId, secretAccessKey: document.secretAccessKey,
                              sessionToken: document.token.flatMap { $0.isEmpty ? nil : $0 }, expiration: expiration)
    }

    /// `2026-11-24T15:00:00Z`, with or without fractional seconds.
    static func parseISO8601(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
