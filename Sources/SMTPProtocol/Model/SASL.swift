import Foundation

/// The SASL mechanisms sinkhole's AUTH speaks (RFC 4954), each to its own RFC.
public enum SASLMechanism: String, CaseIterable, Hashable, Sendable {
    /// RFC 4616: `authzid NUL authcid NUL passwd`, with or without an initial response.
    case plain = "PLAIN"
    /// The draft everyone implements: `334 VXNlcm5hbWU6`, `334 UGFzc3dvcmQ6`.
    case login = "LOGIN"
    /// RFC 2195: a challenge, and `user HEX(HMAC-MD5(secret, challenge))`.
    case cramMD5 = "CRAM-MD5"
    /// CRAM with HMAC-SHA256.
    case cramSHA256 = "CRAM-SHA256"
    /// Google's: `user=U ^A auth=Bearer T ^A ^A`; a failure is a `334` JSON error first.
    case xoauth2 = "XOAUTH2"
    /// RFC 7628: a GS2 header, then `auth=Bearer T`; a failure is a `334` JSON error first.
    case oauthBearer = "OAUTHBEARER"

    public init?(parsing text: some StringProtocol) {
        self.init(rawValue: text.trimmingSMTPWhitespace().uppercased())
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The token mechanisms, whose failure is told in a `334` JSON error before the `535`.
    public var isOAuth: Bool { self == .xoauth2 || self == .oauthBearer }
}

/// What the client proved, once its AUTH exchange is complete. Its
/// description never shows the secret: credentials must not reach a log.
public struct SASLCredentials: Hashable, Sendable, CustomStringConvertible {
    public enum Secret: Hashable, Sendable {
        /// PLAIN and LOGIN.
        case password(String)
        /// CRAM: the challenge sinkhole sent and the hex digest the client answered.
        case digest(challenge: String, response: String)
        /// XOAUTH2 and OAUTHBEARER: the bearer token.
        case token(String)
    }

    public var mechanism: SASLMechanism
    /// The user name: PLAIN's authcid, LOGIN's user, CRAM's, the token's `user=` or GS2 `a=`.
    public var identity: String
    public var secret: Secret

    public init(mechanism: SASLMechanism, identity: String, secret: Secret) {
        self.mechanism = mechanism
        self.identity = identity
        self.secret = secret
    }

    public var description: String { "\(mechanism.rawValue) \(identity) <secret not shown>" }
}

/// Decoding and parsing of the client's AUTH responses: pure functions, no state.
public enum SASL {
    /// A response's bytes: strict base64 (RFC 4648), `=` alone for an empty one; nil when not base64.
    public static func decode(_ line: some StringProtocol) -> [UInt8]? {
        if line == "=" { return [] }
        guard !line.isEmpty, let data = Data(base64Encoded: String(line)) else { return nil }
        return Array(data)
    }

    public static func encode(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`; nil when malformed.
    public static func plain(_ bytes: [UInt8]) -> SASLCredentials? {
        let fields = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, !fields[1].isEmpty, !fields[2].contains(0),
              let user = String(validating: fields[1], as: UTF8.self),
              let password = String(validating: fields[2], as: UTF8.self) else { return nil }
        return SASLCredentials(mechanism: .plain, identity: user, secret: .password(password))
    }

    /// RFC 2195: `user SP digest`, the digest lower-case hex; nil when malformed.
    public static func cram(_ bytes: [UInt8], mechanism: SASLMechanism, challenge: String) -> SASLCredentials? {
        guard let text = String(validating: bytes, as: UTF8.self), let space = text.lastIndex(of: " ") else { return nil }
        let user = text[..<space]
        let digest = text[text.index(after: space)...]
        let length = mechanism == .cramMD5 ? 32 : 64
        guard !user.isEmpty, digest.count == length, digest.allSatisfy(\.isHexDigit) else { return nil }
        return SASLCredentials(mechanism: mechanism, identity: String(user),
                               secret: .digest(challenge: challenge, response: digest.lowercased()))
    }

    /// Google's XOAUTH2: `user=U ^A auth=Bearer T ^A ^A`; nil when malformed.
    public static func xoauth2(_ bytes: [UInt8]) -> SASLCredentials? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        var user: String?
        var token: String?
        for field in text.split(separator: "\u{1}", omittingEmptySubsequences: true) {
            if field.hasPrefix("user=") { user = String(field.dropFirst(5)) }
            if field.lowercased().hasPrefix("auth=bearer ") { token = String(field.dropFirst(12)) }
        }
        guard let user, !user.isEmpty, let token, !token.isEmpty else { return nil }
        return SASLCredentials(mechanism: .xoauth2, identity: user, secret: .token(token))
    }

    /// RFC 7628: `gs2-header ^A *(key=value ^A) ^A`, the user in the header's `a=`; nil when malformed.
    public static func oauthBearer(_ bytes: [UInt8]) -> SASLCredentials? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let parts = text.split(separator: "\u{1}", omittingEmptySubsequences: false)
        // "n,a=user@example.com," — the channel-binding flag, then the authzid.
        guard let header = parts.first, header.hasPrefix("n,") || header.hasPrefix("y,") else { return nil }
        var user = ""
        for item in header.split(separator: ",") where item.hasPrefix("a=") {
            user = item.dropFirst(2).replacingOccurrences(of: "=2C", with: ",").replacingOccurrences(of: "=3D", with: "=")
        }
        var token: String?
        for field in parts.dropFirst() where field.lowercased().hasPrefix("auth=bearer ") {
            token = String(field.dropFirst(12))
        }
        guard let token, !token.isEmpty else { return nil }
        return SASLCredentials(mechanism: .oauthBearer, identity: user, secret: .token(token))
    }

    /// The `334` error a token mechanism sends before its `535` (Google's XOAUTH2, RFC 7628 §3.2.2).
    public static func oauthError(_ mechanism: SASLMechanism) -> String {
        mechanism == .xoauth2
            ? #"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#
            : #"{"status":"invalid_token","schemes":"bearer","scope":"email"}"#
    }
}
