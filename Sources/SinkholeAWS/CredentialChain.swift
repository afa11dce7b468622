import Foundation
import Synchronization

/// The AWS credential chain as sinkhole looks it up: the environment, the ECS
/// container endpoint, EC2 instance metadata, the shared credentials file.
///
/// The first place that is configured decides, and is used from then on
/// (as the AWS SDKs do): temporary credentials are fetched again from the same
/// place ``refreshWindow`` before they expire. If that refresh fails while the
/// old credentials are still valid, the old ones are used and the next call
/// tries again.
public final class CredentialChain: Sendable {
    public let providers: [any CredentialProvider]
    /// How long before expiry credentials are fetched again.
    public let refreshWindow: Duration
    private let now: @Sendable () -> Date
    private let state = Mutex<State>(State())

    private struct State {
        var chosen: Int?
        var cached: AWSCredentials?
    }

    public static let defaultRefreshWindow: Duration = .seconds(5 * 60)

    public init(
        providers: [any CredentialProvider],
        refreshWindow: Duration = defaultRefreshWindow,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.providers = providers
        self.refreshWindow = refreshWindow
        self.now = now
    }

    /// The standard chain, in the order the AWS SDKs look.
    public static func standard(
        environment: [String: String],
        transport: any HTTPTransport,
        timeouts: HTTPTimeouts
    ) -> CredentialChain {
        CredentialChain(providers: [
            EnvironmentCredentialProvider(environment: environment),
            ContainerCredentialProvider(environment: environment, transport: transport, timeouts: timeouts),
            InstanceMetadataCredentialProvider(environment: environment, transport: transport, timeouts: timeouts),
            SharedFileCredentialProvider(environment: environment),
        ])
    }

    /// The name of the place the credentials come from, once one was found.
    public var source: String? {
        state.withLock { state in state.chosen.map { providers[$0].name } }
    }

    /// Valid credentials: the cached ones, or fresh ones when they are about to expire.
    public func credentials() async throws(CredentialError) -> AWSCredentials {
        let (chosen, cached) = state.withLock { ($0.chosen, $0.cached) }
        let instant = now()
        if let cached, !needsRefresh(cached, at: instant) { return cached }

        if let chosen {
            do {
                let fresh = try await lookup(providers[chosen])
                state.withLock { $0.cached = fresh }
                return fresh
            } catch {
                if let cached, let expiration = cached.expiration, expiration > instant { return cached }
                throw error
            }
        }

        var notFound: [String] = []
        for (index, provider) in providers.enumerated() {
            let result: CredentialLookup
            do {
                result = try await provider.lookup()
            } catch {
                throw CredentialError("\(provider.name): \(error.reason)")
            }
            switch result {
            case .found(let credentials):
                state.withLock { state in
                    state.chosen = index
                    state.cached = credentials
                }
                return credentials
            case .notConfigured(let why):
                notFound.append("\(notFound.count + 1). \(provider.name): \(why)")
            }
        }
        throw CredentialError("no AWS credentials found. Looked in " + notFound.joined(separator: "; "))
    }

    private func lookup(_ provider: any CredentialProvider) async throws(CredentialError) -> AWSCredentials {
        let result: CredentialLookup
        do {
            result = try await provider.lookup()
        } catch {
            throw CredentialError("\(provider.name): \(error.reason)")
        }
        switch result {
        case .found(let credentials): return credentials
        case .notConfigured(let why): throw CredentialError("\(provider.name) no longer has credentials: \(why)")
        }
    }

    private func needsRefresh(_ credentials: AWSCredentials, at instant: Date) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        let window = Double(refreshWindow.components.seconds) + Double(refreshWindow.components.attoseconds) / 1e18
        return expiration.timeIntervalSince(instant) <= window
    }
}
