import Foundation
import NIOSSL
import Synchronization

/// Where the `valid` profile's certificate comes from.
public enum CertificateSource: Sendable, Equatable {
    /// Generated at start: a throwaway CA and a leaf for these names.
    case generated(names: [String])
    /// `--tls-cert` and `--tls-key`, PEM files, read again on SIGHUP or when they change.
    case files(certificate: String, key: String)
}

/// What went wrong loading certificates, in one line.
public struct TLSSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The TLS contexts of every certificate profile, built at start. A
/// connection takes the context current when its handshake starts; a reload
/// swaps them for later handshakes and drops no session.
public final class TLSServerContexts: Sendable {
    public let source: CertificateSource
    /// The generated CA, for `--tls-write-ca`.
    public let caPEM: String
    private let state: Mutex<State>

    private struct State {
        var contexts: [CertificateProfile: NIOSSLContext]
        var fingerprints: [CertificateProfile: String]
        /// The files' modification times when last read.
        var stamps: [Date?]
    }

    public init(source: CertificateSource, names: [String]) throws {
        self.source = source
        let generated: GeneratedCertificates
        do {
            generated = try GeneratedCertificates(names: names)
        } catch {
            throw TLSSetupError("could not generate the test certificates: \(error)")
        }
        caPEM = generated.caPEM
        var contexts: [CertificateProfile: NIOSSLContext] = [:]
        var fingerprints: [CertificateProfile: String] = [:]
        for (profile, identity) in generated.identities {
            contexts[profile] = try Self.context(for: identity, what: "the generated \(profile.rawValue) certificate")
            fingerprints[profile] = identity.fingerprint
        }
        var stamps: [Date?] = []
        if case .files(let certificate, let key) = source {
            let identity = try Self.read(certificate: certificate, key: key)
            contexts[.valid] = try Self.context(for: identity, what: "--tls-cert \(certificate) with --tls-key \(key)")
            fingerprints[.valid] = identity.fingerprint
            stamps = [Self.modified(certificate), Self.modified(key)]
        }
        state = Mutex(State(contexts: contexts, fingerprints: fingerprints, stamps: stamps))
    }

    /// The context a handshake in `profile` uses now.
    public func context(_ profile: CertificateProfile) -> NIOSSLContext {
        state.withLock { $0.contexts[profile]! }
    }

    /// The leaf's SHA-256 fingerprint in `profile`.
    public func fingerprint(_ profile: CertificateProfile) -> String {
        state.withLock { $0.fingerprints[profile] ?? "" }
    }

    /// Whether `--tls-cert` or `--tls-key` changed on disk since they were read.
    public var filesChanged: Bool {
        guard case .files(let certificate, let key) = source else { return false }
        let now = [Self.modified(certificate), Self.modified(key)]
        return state.withLock { $0.stamps != now }
    }

    /// Reads `--tls-cert` and `--tls-key` again; the old context stays on
    /// any error. Returns the new fingerprint. Call off the event loop: it reads files.
    @discardableResult
    public func reload() throws -> String? {
        guard case .files(let certificate, let key) = source else { return nil }
        let stamps = [Self.modified(certificate), Self.modified(key)]
        let identity: TLSIdentity
        let context: NIOSSLContext
        do {
            identity = try Self.read(certificate: certificate, key: key)
            context = try Self.context(for: identity, what: "--tls-cert \(certificate) with --tls-key \(key)")
        } catch {
            // Not tried again until the files change once more.
            state.withLock { $0.stamps = stamps }
            throw error
        }
        state.withLock {
            $0.contexts[.valid] = context
            $0.fingerprints[.valid] = identity.fingerprint
            $0.stamps = stamps
        }
        return identity.fingerprint
    }

    private static func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    private static func read(certificate: String, key: String) throws -> TLSIdentity {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw TLSSetupError("--tls-cert \(certificate): not a readable PEM certificate (\(error))")
        }
        guard let leaf = chain.first else { throw TLSSetupError("--tls-cert \(certificate): no certificate in the file") }
        let keyPEM: String
        do {
            keyPEM = try String(contentsOfFile: key, encoding: .utf8)
            _ = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw TLSSetupError("--tls-key \(key): not a readable PEM private key (\(error))")
        }
        let pems = try chain.map { certificate -> String in
            let der = try certificate.toDERBytes()
            return "-----BEGIN CERTIFICATE-----\n" + Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
                + "\n-----END CERTIFICATE-----\n"
        }
        return TLSIdentity(certificatesPEM: pems, privateKeyPEM: keyPEM,
                           fingerprint: GeneratedCertificates.fingerprint(der: try leaf.toDERBytes()))
    }

    private static func context(for identity: TLSIdentity, what: String) throws -> NIOSSLContext {
        do {
            let chain = try identity.certificatesPEM.flatMap { try NIOSSLCertificate.fromPEMBytes(Array($0.utf8)) }
            let key = try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            configuration.maximumTLSVersion = .tlsv13
            return try NIOSSLContext(configuration: configuration)
        } catch let error as TLSSetupError {
            throw error
        } catch {
            throw TLSSetupError("\(what): the key does not fit the certificate, or TLS refused them (\(error))")
        }
    }
}
