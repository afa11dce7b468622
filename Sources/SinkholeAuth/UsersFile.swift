import Crypto
import SMTPProtocol
import SinkholePolicy

/// `--auth-users`: real accounts, each mechanism checked to its RFC. PLAIN,
/// LOGIN and the token mechanisms compare the secret (in constant time);
/// CRAM-MD5 and CRAM-SHA256 recompute the HMAC of the challenge sinkhole sent.
public struct UsersFileCredentials: CredentialChecker {
    private let users: [String: String]

    public init(users: [String: String]) { self.users = users }

    public func accepts(_ credentials: SASLCredentials) -> Bool {
        guard let secret = users[credentials.identity] else { return false }
        switch credentials.secret {
        case .password(let password), .token(let password):
            return Self.equal(Array(password.utf8), Array(secret.utf8))
        case .digest(let challenge, let response):
            let key = SymmetricKey(data: Array(secret.utf8))
            let expected: String = switch credentials.mechanism {
            case .cramSHA256: Self.hex(HMAC<SHA256>.authenticationCode(for: Array(challenge.utf8), using: key))
            default: Self.hex(HMAC<Insecure.MD5>.authenticationCode(for: Array(challenge.utf8), using: key))
            }
            return Self.equal(Array(expected.utf8), Array(response.utf8))
        }
    }

    private static func hex(_ code: some Sequence<UInt8>) -> String {
        code.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }

    /// Constant time in the bytes compared: a wrong guess says nothing about how close it was.
    private static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
