import Foundation
import Hummingbird
import Logging
import ModeSources
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SinkholePolicy
import Synchronization

/// What `/readyz` asks: is sinkhole listening, and does it know its mode?
public final class Readiness: Sendable {
    private let listening = Mutex(false)
    public init() {}
    public func markListening() { listening.withLock { $0 = true } }
    public var isListening: Bool { listening.withLock { $0 } }
}

/// The operations HTTP listener (`--http-listen`, default 127.0.0.1:8025),
/// built on Hummingbird so later control routes can join it:
///
/// - `GET /healthz`: 200 `ok` while the process runs;
/// - `GET /readyz`: 200 `ready` once sinkhole listens and its mode source has
///   given a good value, else 503 with the reason;
/// - `GET /metrics`: Prometheus text from the swift-metrics registry.
public struct OpsServer: Service {
    public let address: (host: String, port: Int)
    private let application: Application<RouterResponder<BasicRequestContext>>

    public init(
        host: String,
        port: Int,
        registry: PrometheusCollectorRegistry,
        modes: ModeProvider,
        greylist: GreylistTable,
        readiness: Readiness,
        eventLoops: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        control: ControlAPI? = nil,
        jamesOnly: Bool = false,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.address = (host, port)
        let greylistGauges = GreylistGauges(registry: registry)
        let router = Router()
        if let token = control?.token {
            router.add(middleware: BearerAuthentication(token: Array(token.utf8), readOpen: control?.readOpen ?? false,
                                                        logger: logger))
        }
        if let control {
            if jamesOnly { router.add(middleware: JamesStrictPaths()) } else { router.add(middleware: NativeRouteErrors()) }
            JamesRoutes(runtime: control.runtime, capture: control.capture, logger: logger).add(to: router)
            if !jamesOnly {
                MailpitRoutes(runtime: control.runtime, capture: control.capture, started: Date(), logger: logger).add(to: router)
                ModeRoutes(modes: modes).add(to: router)
                router.get("api/v1/openapi.json") { _, _ -> Response in
                    Response(status: .ok, headers: [.contentType: "application/json"],
                             body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
                }
                JournalRoutes(journal: control.journal).add(to: router)
                RuleRoutes(control: control, modes: modes, greylist: greylist).add(to: router)
                EventRoutes(events: control.events).add(to: router)
                WebPageRoutes().add(to: router)
            }
        }
        let captureGauges = jamesOnly ? nil : control?.capture.map { CaptureGauges(registry: registry, store: $0) }
        Self.addOperations(to: router, jamesOnly: jamesOnly, registry: registry, modes: modes, greylist: greylist,
                           readiness: readiness, gauges: greylistGauges, capture: captureGauges)
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "sinkhole"),
            onServerRunning: { channel in
                if let local = channel.localAddress { onListening(local) }
            },
            eventLoopGroupProvider: .shared(eventLoops),
            logger: quiet
        )
    }

    private static func addOperations(
        to router: Router<BasicRequestContext>, jamesOnly: Bool, registry: PrometheusCollectorRegistry,
        modes: ModeProvider, greylist: GreylistTable, readiness: Readiness, gauges greylistGauges: GreylistGauges,
        capture: CaptureGauges?
    ) {
        guard !jamesOnly else { return }
        router.get("healthz") { _, _ in "ok\n" }
        router.get("readyz") { _, _ -> Response in
            var problems: [String] = []
            if !readiness.isListening { problems.append("not listening yet") }
            if !modes.snapshot.isKnown { problems.append("no good value from the mode source yet") }
            let body = problems.isEmpty ? "ready\n" : "not ready: " + problems.joined(separator: "; ") + "\n"
            return Response(status: problems.isEmpty ? .ok : .serviceUnavailable,
                            headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("metrics") { _, _ -> Response in
            greylistGauges.update(greylist.statistics)
            capture?.update()
            let text = registry.emitToBuffer()
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
    }

    public func run() async throws {
        // The application as a service of sinkhole's own group, not runService(): that one
        // makes a group of its own that catches SIGTERM too, and stopped the listener before
        // sinkhole's group asked it to, which the group took for a failure (exit 1).
        try await application.run()
    }
}

/// Captured mail's size, evictions and refusals, read from the store at each scrape.
private final class CaptureGauges: Sendable {
    private let store: MailStore
    private let messages: Gauge
    private let bytes: Gauge
    private let evictions: Counter
    private let refused: Counter
    private let seen = Mutex((evicted: 0, refused: 0))

    init(registry: PrometheusCollectorRegistry, store: MailStore) {
        self.store = store
        messages = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "sinkhole", metricName: "captured", unitName: "messages", helpText: "Messages --capture memory keeps."))
        bytes = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "sinkhole", metricName: "captured", unitName: "bytes", helpText: "Bytes of captured mail kept."))
        evictions = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "sinkhole", metricName: "capture_evictions", unitName: "total",
            helpText: "Captured messages evicted to make room (oldest first)."))
        refused = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "sinkhole", metricName: "capture_refused", unitName: "total",
            helpText: "Messages refused with 452 4.3.1 because they did not fit the capture budget."))
    }

    func update() {
        let statistics = store.statistics
        messages.set(Double(statistics.messages))
        bytes.set(Double(statistics.bytes))
        let (evicted, refusedNow) = seen.withLock { seen -> (Int, Int) in
            defer { seen = (max(seen.evicted, statistics.evicted), max(seen.refused, statistics.refused)) }
            return (max(0, statistics.evicted - seen.evicted), max(0, statistics.refused - seen.refused))
        }
        if evicted > 0 { evictions.increment(by: Int64(evicted)) }
        if refusedNow > 0 { refused.increment(by: Int64(refusedNow)) }
    }
}

/// The greylist's size and evictions, read from the table at each scrape.
private final class GreylistGauges: Sendable {
    private let entries: Gauge
    private let evictions: Counter
    private let seenEvictions = Mutex(0)

    init(registry: PrometheusCollectorRegistry) {
        entries = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "sinkhole", metricName: "greylist", unitName: "entries", helpText: "Client IPs the greylist remembers."))
        evictions = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "sinkhole", metricName: "greylist_evictions", unitName: "total",
            helpText: "Greylist entries forgotten to make room (least recently seen first)."))
    }

    func update(_ statistics: GreylistTable.Statistics) {
        entries.set(Double(statistics.entries))
        let delta = seenEvictions.withLock { seen -> Int in
            defer { seen = max(seen, statistics.evictions) }
            return max(0, statistics.evictions - seen)
        }
        if delta > 0 { evictions.increment(by: Int64(delta)) }
    }
}

/// Every HTTP listener (`--http-listen`, `--james-listen`) as one service,
/// so a graceful shutdown reaches them together: shut down one after the
/// other, the second could finish while the first was being stopped, which
/// the service group takes for a failure.
public struct HTTPListeners: Service {
    public let servers: [OpsServer]

    public init(_ servers: [OpsServer]) { self.servers = servers }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for server in servers {
                group.addTask { try await server.run() }
            }
        }
    }
}
