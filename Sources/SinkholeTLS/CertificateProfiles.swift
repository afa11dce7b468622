import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

#if canImport(Glibc)
import Glibc
#endif

/// The certificates sinkhole can present, so a client's verification is
/// tested the way badssl.com tests a browser's. All but `valid` must be
/// refused by a client that verifies.
public enum CertificateProfile: String, CaseIterable, Hashable, Sendable {
    /// Signed by sinkhole's CA (written with `--tls-write-ca`), for the right names, in date.
    case valid
    /// Signed by its own key: no CA vouches for it.
    case selfSigned = "self-signed"
    /// Signed by the CA, but its validity ended yesterday.
    case expired
    /// Signed by the CA, but valid only from tomorrow.
    case notYetValid = "not-yet-valid"
    /// Signed by the CA, in date, for `wrong.host.invalid` only.
    case wrongHost = "wrong-host"
    /// For the right names and in date, but signed by a second CA that is never written out.
    case untrustedCA = "untrusted-ca"
    /// Signed by the CA, right names, in date, with a 1024-bit RSA key.
    case weakKey = "weak-key"

    public init?(parsing text: some StringProtocol) {
        self.init(rawValue: text.lowercased())
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// A certificate chain and its key, in PEM, with the leaf's SHA-256 fingerprint.
public struct TLSIdentity: Sendable {
    /// The leaf first, then any intermediates, each a PEM block.
    public var certificatesPEM: [String]
    public var privateKeyPEM: String
    /// `AB:CD:…`, of the leaf's DER.
    public var fingerprint: String

    public init(certificatesPEM: [String], privateKeyPEM: String, fingerprint: String) {
        self.certificatesPEM = certificatesPEM
        self.privateKeyPEM = privateKeyPEM
        self.fingerprint = fingerprint
    }
}

/// A throwaway CA made at start, and a leaf in each ``CertificateProfile``
/// for the names given. Nothing is written to disk but what `--tls-write-ca` asks for.
public struct GeneratedCertificates: Sendable {
    /// The CA that signs every profile but `self-signed` and `untrusted-ca`, in PEM.
    public let caPEM: String
    public let identities: [CertificateProfile: TLSIdentity]

    /// `names`: DNS names and IP addresses the leaves are for (the hostname
    /// and the listen addresses); `now` for the validity periods.
    public init(names: [String], now: Date = Date()) throws {
        let ca = try Self.makeCA(name: "sinkhole test CA", now: now)
        let otherCA = try Self.makeCA(name: "sinkhole untrusted CA", now: now)
        caPEM = try ca.certificate.serializeAsPEM().pemString
        let hour: TimeInterval = 3600
        let day: TimeInterval = 24 * hour
        let subjectNames = Self.alternativeNames(names)
        let commonName = names.first ?? "localhost"
        var identities: [CertificateProfile: TLSIdentity] = [:]
        for profile in CertificateProfile.allCases {
            var from = now - hour
            var until = now + 365 * day
            var sans = subjectNames
            var issuer: Authority? = ca
            var key = Certificate.PrivateKey(P256.Signing.PrivateKey())
            var cn = commonName
            switch profile {
            case .valid: break
            case .selfSigned: issuer = nil
            case .expired: (from, until) = (now - 30 * day, now - day)
            case .notYetValid: (from, until) = (now + day, now + 30 * day)
            case .wrongHost:
                sans = [.dnsName("wrong.host.invalid")]
                cn = "wrong.host.invalid"
            case .untrustedCA: issuer = otherCA
            case .weakKey: key = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)))
            }
            identities[profile] = try Self.makeLeaf(commonName: cn, names: sans, key: key, from: from, until: until, issuer: issuer)
        }
        self.identities = identities
    }

    private struct Authority {
        let certificate: Certificate
        let key: Certificate.PrivateKey
    }

    private static func makeCA(name: String, now: Date) throws -> Authority {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            OrganizationName("sinkhole")
            CommonName(name)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now - 3600, notValidAfter: now + 10 * 365 * 24 * 3600,
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        return Authority(certificate: certificate, key: key)
    }

    private static func makeLeaf(commonName: String, names: [GeneralName], key: Certificate.PrivateKey,
                                 from: Date, until: Date, issuer: Authority?) throws -> TLSIdentity {
        let subject = try DistinguishedName {
            OrganizationName("sinkhole")
            CommonName(commonName)
        }
        // Every signer is a P-256 key: a CA's, or the self-signed leaf's own.
        let signer = issuer?.key ?? key
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: from, notValidAfter: until,
            issuer: issuer?.certificate.subject ?? subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                if let issuer { AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: issuer.key.publicKey).keyIdentifier) }
            },
            issuerPrivateKey: signer)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let der = serializer.serializedBytes
        return TLSIdentity(certificatesPEM: [try certificate.serializeAsPEM().pemString],
                           privateKeyPEM: try key.serializeAsPEM().pemString,
                           fingerprint: Self.fingerprint(der: der))
    }

    /// DNS names as they are; IP addresses (v4 or v6) as IP SANs.
    static func alternativeNames(_ names: [String]) -> [GeneralName] {
        var out: [GeneralName] = []
        var seen: Set<String> = []
        for name in names where !name.isEmpty && seen.insert(name.lowercased()).inserted {
            if let bytes = ipBytes(name) {
                out.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
            } else {
                out.append(.dnsName(name))
            }
        }
        return out
    }

    static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// SHA-256 of DER bytes, as `AB:CD:…`.
    public static func fingerprint(der: [UInt8]) -> String {
        SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
    }
}
