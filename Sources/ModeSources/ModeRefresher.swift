import ServiceLifecycle

/// A service that reads a changing mode source every TTL until shutdown.
/// Sources that cannot change (static, environment) are read once, at start.
public struct ModeRefresher: Service {
    public let provider: ModeProvider

    public init(provider: ModeProvider) { self.provider = provider }

    public func run() async throws {
        guard provider.source.changes else { return }
        await cancelWhenGracefulShutdown {
            var wait = provider.ttl
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: wait)
                } catch {
                    return
                }
                let failure = await provider.refresh()
                // A throttled source is read less often until it recovers.
                wait = max(provider.ttl, failure?.retryAfter ?? .zero)
            }
        }
    }
}
