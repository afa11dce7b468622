import Metrics
import SinkholePolicy
import Synchronization

/// sinkhole's SMTP figures, through swift-metrics (Prometheus at `/metrics`).
///
/// The handles are made once; a session tallies its replies, bytes and
/// messages locally and adds them here after each message and at its end,
/// so the hot path takes no lock per reply.
public final class ServerMetrics: Sendable {
    let connectionsActive: Meter
    let connectionsTotal: Counter
    let connectionsRefused: Counter
    let bytesReceived: Counter
    let sessionDuration: Timer
    /// TLS handshakes completed (STARTTLS and implicit TLS).
    let tlsHandshakes: Counter
    private let tlsFailures: [TLSFailure: Counter]
    private let factory: any MetricsFactory
    /// One counter per ``MessageOutcome``: no hashing when a message is counted.
    private let messages: (accepted: Counter, refused: Counter, tooBig: Counter)
    private let replies = Mutex(ReplyCounters())
    /// The counters of each distinct decision record (bounded: rule ids, trigger verbs, a few layers and actions).
    private let policyCounters = Mutex(PolicyCounters())

    public static let sessionDurationLabel = "sinkhole_session_duration_seconds"
    /// From a quick QUIT to the 30-minute session limit.
    public static let sessionDurationBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(1800),
    ]

    enum MessageOutcome: String, CaseIterable {
        case accepted
        case refused
        case tooBig = "too_big"
    }

    /// Why a TLS handshake failed, in few enough words for a label.
    enum TLSFailure: String, CaseIterable {
        /// The client sent something that is no TLS (plaintext, an HTTP request, garbage).
        case notTLS = "not_tls"
        /// The client refused the certificate (an alert: unknown CA, bad or expired certificate).
        case certificateRefused = "certificate_refused"
        /// No version or cipher both sides take.
        case noCommonParameters = "no_common_parameters"
        /// The client went away during the handshake.
        case clientClosed = "client_closed"
        case other
    }

    func tlsFailed(_ reason: TLSFailure) { tlsFailures[reason]?.increment() }

    struct ReplyKey: Hashable {
        var code: Int
        var command: String
    }

    /// `factory`: where the figures go; tests pass a `TestMetrics`.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        connectionsActive = Meter(label: "sinkhole_connections_active", factory: factory)
        connectionsTotal = Counter(label: "sinkhole_connections_total", factory: factory)
        connectionsRefused = Counter(label: "sinkhole_connections_refused_total", factory: factory)
        bytesReceived = Counter(label: "sinkhole_received_bytes_total", factory: factory)
        sessionDuration = Timer(label: Self.sessionDurationLabel, preferredDisplayUnit: .seconds, factory: factory)
        let messageCounter = { (outcome: MessageOutcome) in
            Counter(label: "sinkhole_messages_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        messages = (messageCounter(.accepted), messageCounter(.refused), messageCounter(.tooBig))
        tlsHandshakes = Counter(label: "sinkhole_tls_handshakes_total", factory: factory)
        var failures: [TLSFailure: Counter] = [:]
        for reason in TLSFailure.allCases {
            failures[reason] = Counter(label: "sinkhole_tls_handshake_failures_total", dimensions: [("reason", reason.rawValue)],
                                       factory: factory)
        }
        tlsFailures = failures
    }

    /// A session's tallies since its last flush. A short list, searched in order,
    /// not a dictionary: a message has a handful of distinct replies, and hashing
    /// the command's name for each reply cost more than the search.
    struct Tally {
        /// Each key with its counter once a flush has found it: the session's later
        /// flushes (one per message) increment it without the lock or the search.
        private(set) var replies: [(key: ReplyKey, count: Int, counter: Counter?)] = []
        var bytes = 0
        /// By ``MessageOutcome``.
        private(set) var messages = (accepted: 0, refused: 0, tooBig: 0)
        /// (The keys of `replies` outlive a reset, with count 0.)
        var isEmpty: Bool { bytes == 0 && messages == (0, 0, 0) && !replies.contains { $0.count > 0 } }

        mutating func countReply(code: Int, command: String) {
            for index in replies.indices where replies[index].key.code == code && replies[index].key.command == command {
                replies[index].count += 1
                return
            }
            // Room for a transaction's replies at once (MAIL, RCPT, DATA, end of data): one
            // allocation where growing one by one made three.
            if replies.capacity == 0 { replies.reserveCapacity(4) }
            replies.append((ReplyKey(code: code, command: command), 1, nil))
        }

        /// The keys with no counter yet, from the first: keys are only ever appended, and
        /// a flush gives every key its counter.
        var firstUnresolved: Int {
            var index = replies.endIndex
            while index > 0 && replies[index - 1].counter == nil { index -= 1 }
            return index
        }

        mutating func resolve(_ index: Int, _ counter: Counter) { replies[index].counter = counter }

        mutating func countMessage(_ outcome: MessageOutcome) {
            switch outcome {
            case .accepted: messages.accepted += 1
            case .refused: messages.refused += 1
            case .tooBig: messages.tooBig += 1
            }
        }

        /// Empties the tally for the next message. The (code, command) keys stay, at 0: the
        /// next message answers the same ones (emptying the array cost more than the rest
        /// of the reset). Past 32 keys, which only rules make, they go.
        mutating func reset() {
            if replies.count > 32 {
                replies.removeAll(keepingCapacity: true)
            } else {
                for index in replies.indices { replies[index].count = 0 }
            }
            messages = (0, 0, 0)
            bytes = 0
        }
    }

    /// The engine's decisions other than the normal reply: by layer, by rule,
    /// by trigger verb, and delays, disconnects and resets injected. Each
    /// distinct record's counters are made once and kept, so a flush takes one
    /// lock and allocates nothing.
    func add(_ records: [DecisionRecord]) {
        // Incremented under the lock, as the replies are: no array of counters per flush.
        policyCounters.withLock { cache in
            for record in records {
                for counter in cache.counters(for: record, make: makeCounters) { counter.increment() }
            }
        }
    }

    /// The counters made so far for each decision record. As with the replies, the first
    /// few records (a mode's or a rule's, repeated for every session of a load run) are
    /// searched in order: comparing a record's fields costs less than hashing them.
    struct PolicyCounters {
        private var first: [(record: DecisionRecord, counters: [Counter])] = []
        private var rest: [DecisionRecord: [Counter]] = [:]
        private static let inOrder = 16

        mutating func counters(for record: DecisionRecord, make: (DecisionRecord) -> [Counter]) -> [Counter] {
            for entry in first where entry.record == record { return entry.counters }
            if let counters = rest[record] { return counters }
            let counters = make(record)
            if first.count < Self.inOrder { first.append((record, counters)) } else { rest[record] = counters }
            return counters
        }
    }

    private func makeCounters(_ record: DecisionRecord) -> [Counter] {
        var counters = [Counter(label: "sinkhole_decisions_total", dimensions: [
            ("layer", record.layer.rawValue), ("command", record.event), ("action", record.action.rawValue),
        ], factory: factory)]
        let source = record.source ?? "?"
        switch record.layer {
        case .rule: counters.append(Counter(label: "sinkhole_rule_matches_total", dimensions: [("rule", source)], factory: factory))
        case .trigger: counters.append(Counter(label: "sinkhole_triggers_total", dimensions: [("trigger", source)], factory: factory))
        case .greylist: counters.append(Counter(label: "sinkhole_greylist_verdicts_total", dimensions: [("verdict", source)], factory: factory))
        case .mode, .profile, .credentials: break
        }
        // A bad password is the client's doing, not a fault sinkhole injected.
        if record.action.isFault && record.layer != .credentials {
            counters.append(Counter(label: "sinkhole_faults_injected_total", dimensions: [("kind", record.action.rawValue)], factory: factory))
        }
        if record.delayed && record.action != .delay {
            counters.append(Counter(label: "sinkhole_faults_injected_total", dimensions: [("kind", "delay")], factory: factory))
        }
        return counters
    }

    func add(_ tally: inout Tally) {
        if tally.bytes > 0 { bytesReceived.increment(by: tally.bytes) }
        if tally.messages.accepted > 0 { messages.accepted.increment(by: tally.messages.accepted) }
        if tally.messages.refused > 0 { messages.refused.increment(by: tally.messages.refused) }
        if tally.messages.tooBig > 0 { messages.tooBig.increment(by: tally.messages.tooBig) }
        guard !tally.replies.isEmpty else { return }
        let first = tally.firstUnresolved
        if first < tally.replies.count {
            // New keys: their counters, found or made under the lock, stay in the tally.
            replies.withLock { cache in
                for index in first..<tally.replies.count {
                    let key = tally.replies[index].key
                    tally.resolve(index, cache.counter(for: key) {
                        Counter(label: "sinkhole_replies_total", dimensions: [("code", String(key.code)), ("command", key.command)],
                                factory: factory)
                    })
                }
            }
        }
        // A counter's increment is its own (atomic): no lock of ours.
        for entry in tally.replies where entry.count > 0 { entry.counter?.increment(by: entry.count) }
    }

    /// The reply counters made so far. The first few (code, command) pairs, which a
    /// load run repeats for every message, are searched in order: comparing a code and
    /// a short verb costs less than hashing them. The rest, which rules can make many
    /// of, are in a dictionary.
    struct ReplyCounters {
        private var first: [(key: ReplyKey, counter: Counter)] = []
        private var rest: [ReplyKey: Counter] = [:]
        private static let inOrder = 16

        mutating func counter(for key: ReplyKey, make: () -> Counter) -> Counter {
            for entry in first where entry.key.code == key.code && entry.key.command == key.command { return entry.counter }
            if let counter = rest[key] { return counter }
            let counter = make()
            if first.count < Self.inOrder { first.append((key, counter)) } else { rest[key] = counter }
            return counter
        }
    }
}
