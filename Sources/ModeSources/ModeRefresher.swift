import ServiceLifecycle

/// A service that reads a changing mode source every TTL until shutdown.
/// Sources that cannot change (static, environment) are read once, at start.
public struct ModeRefresher: Service {
    public let provider: ModeProvider

    public init(provider: ModeProvider) { self.provider = provider }

    public func run() async throws {
        guard provider.source.changes else { return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: provider.ttl)
                } catch {
                    return
                }
                await provider.refresh()
            }
        }
    }
}
