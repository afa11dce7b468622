import Foundation
import SinkholePolicy
import SinkholeTLS

/// STARTTLS, implicit TLS and the certificates (`--starttls`, `--tls-listen`,
/// `--tls-cert`, `--tls-key`, `--tls-profile`, `--tls-write-ca`, `--require-tls`).
public struct TLSSettings: Sendable {
    /// STARTTLS offered on the plain listeners: `--starttls`, or a certificate
    /// given; `--no-starttls` withholds it whatever else is set.
    public var startTLS = false
    /// Implicit-TLS listeners (RFC 8314): TLS from the first byte.
    public var listen: [ListenerSpec] = []
    /// PEM files; nil: a certificate is generated at start.
    public var certificate: String?
    public var key: String?
    /// The certificate profile every TLS listener presents unless its own `tls-profile=` says otherwise.
    public var profile = CertificateProfile.valid
    /// Where to write the generated CA, so the client under test can trust it.
    public var writeCA: String?
    /// MAIL before STARTTLS gets `530 5.7.0 Must issue a STARTTLS command first`.
    public var requireTLS = false

    /// Anything at all needs a TLS context: STARTTLS somewhere, or an implicit-TLS listener.
    public func needed(listeners: [ListenerSpec]) -> Bool {
        startTLS || !listen.isEmpty || listeners.contains { $0.profile?.startTLS == true || $0.profile?.implicitTLS == true }
    }

    public init() {}
}

extension Settings {
    mutating func resolveTLS(_ layers: SettingLayers) throws {
        var tls = TLSSettings()
        tls.certificate = layers.string("tls-cert")?.value
        tls.key = layers.string("tls-key")?.value
        switch (tls.certificate, tls.key) {
        case (.some, nil): throw SettingsError(description: "tls-cert needs tls-key (the certificate's private key, PEM)")
        case (nil, .some): throw SettingsError(description: "tls-key needs tls-cert (the certificate, PEM)")
        default: break
        }
        for (key, path) in [("tls-cert", tls.certificate), ("tls-key", tls.key)] {
            guard let path else { continue }
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw SettingsError(description: "invalid \(key) \(path): no readable file there")
            }
        }
        let offered = try layers.value("starttls", default: false, Parse.bool, expected: "true or false")
        let withheld = try layers.value("no-starttls", default: false, Parse.bool, expected: "true or false")
        tls.startTLS = !withheld && (offered || tls.certificate != nil)
        tls.profile = try layers.value("tls-profile", default: .valid, { CertificateProfile(parsing: $0.trimmingCharacters(in: .whitespaces)) },
                                       expected: "one of \(CertificateProfile.names)")
        tls.writeCA = layers.string("tls-write-ca")?.value
        tls.requireTLS = try layers.value("require-tls", default: false, Parse.bool, expected: "true or false")
        if let (values, origin) = layers.lookup("tls-listen") {
            for value in Self.joinListenOptions(values, fromEnvironment: origin.hasPrefix("SINKHOLE_")) {
                var spec = try ListenerSpec(parsing: value, origin: origin)
                var profile = spec.profile ?? ListenerProfile(name: spec.address.description)
                profile.implicitTLS = true
                spec.profile = profile
                tls.listen.append(spec)
            }
        }
        for spec in listen + tls.listen {
            if let name = spec.profile?.tlsProfile, CertificateProfile(parsing: name) == nil {
                throw SettingsError(description: "invalid listener \(spec.address) tls-profile=\(name): expected one of \(CertificateProfile.names)")
            }
        }
        if tls.requireTLS && !tls.needed(listeners: listen) {
            throw SettingsError(description: "require-tls needs STARTTLS (--starttls, or --tls-cert and --tls-key): without it no client could send mail")
        }
        self.tls = tls
    }
}
