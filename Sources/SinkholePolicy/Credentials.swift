import SMTPProtocol

/// Decides whether AUTH's credentials are good: the last layer of an
/// `AUTH` decision, after rules and triggers. Injected, so the policy core
/// needs no cryptography: the one that checks CRAM digests lives outside it.
public protocol CredentialChecker: Sendable {
    /// `true`: `235 2.7.0 Authentication successful`; `false`: `535 5.7.8`.
    func accepts(_ credentials: SASLCredentials) -> Bool
}

/// BadSMTP's rule (its spec §4.1): a user name containing `badauth` fails,
/// any other succeeds; the secret is never looked at.
public struct BadSMTPCredentials: CredentialChecker {
    public init() {}
    public func accepts(_ credentials: SASLCredentials) -> Bool { !credentials.identity.contains("badauth") }
}
