import SMTPProtocol
import Synchronization

/// A source of random numbers the policy draws from; tests pass a seeded one.
public protocol RandomSource: Sendable {
    /// A number in 0..<1.
    func nextUnit() -> Double
}

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
public struct SplitMix64: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A number in 0..<1 (53 random bits).
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}

/// The system's random numbers.
public struct SystemRandomSource: RandomSource {
    public init() {}
    public func nextUnit() -> Double { Double.random(in: 0..<1) }
}

/// A seeded source shared by everything that draws from it (tests, `--seed`).
public final class SeededRandomSource: RandomSource {
    private let generator: Mutex<SplitMix64>
    public init(seed: UInt64) { generator = Mutex(SplitMix64(seed: seed)) }
    public func nextUnit() -> Double { generator.withLock { $0.nextUnit() } }
}

/// What a rule's condition is tested against: the event and the session.
struct RuleInput {
    let event: SMTPEvent
    let session: SessionSnapshot
    let listener: String

    /// The text of `field`, or nil when the field has none at this step.
    /// `recipient` after RCPT is answered by ``recipients``.
    func text(_ field: RuleField) -> String? {
        switch field {
        case .argument:
            switch event {
            case .helo(let name), .ehlo(let name), .lhlo(let name): return name
            case .mail(let path, _): return path.bareAddress
            case .rcpt(let path, _): return path.bareAddress
            case .bdat(let size, let last): return last ? "\(size) LAST" : String(size)
            case .xclient(let attributes), .xforward(let attributes):
                return attributes.map { "\($0.name)=\($0.value ?? "[UNAVAILABLE]")" }.joined(separator: " ")
            case .vrfy(let argument): return argument
            case .endOfData(_, let message): return message ?? ""
            case .unknown(let verb): return verb
            // "PLAIN alice@example.com": the mechanism and who the client says it is; never the secret.
            case .authenticate(let credentials): return credentials.mechanism.rawValue + " " + credentials.identity
            default: return ""
            }
        case .clientIP: return session.clientIP
        case .helo: return session.heloName
        case .sender:
            if case .mail(let path, _) = event { return path.bareAddress }
            return session.reversePath?.bareAddress
        case .recipient:
            if case .rcpt(let path, _) = event { return path.bareAddress }
            if let index = session.deliveringTo, index < session.recipients.count { return session.recipients[index].bareAddress }
            return session.recipients.first?.bareAddress
        case .header(let name):
            guard case .endOfData(_, let message?) = event else { return nil }
            return HeaderLookup.value(of: name, in: message)
        case .size:
            switch event {
            case .endOfData(let size, _): return String(size)
            case .content(let bytes): return String(bytes)
            case .mail(_, let parameters):
                for case .size(let declared) in parameters { return String(declared) }
                return nil
            default: return nil
            }
        case .listener: return listener
        case .parameter(let name):
            switch event {
            case .mail(_, let parameters), .rcpt(_, let parameters): return parameters.first { $0.keyword == name }?.valueText
            default: return nil
            }
        }
    }

    /// Every value of `field` a condition may match: the recipients of the
    /// transaction for `recipient` after RCPT, else the single text.
    func values(_ field: RuleField) -> [String] {
        if field == .recipient, !isRCPT, session.deliveringTo == nil {
            return session.recipients.map(\.bareAddress)
        }
        return text(field).map { [$0] } ?? []
    }

    private var isRCPT: Bool { if case .rcpt = event { true } else { false } }

    func matches(_ condition: RuleCondition) -> Bool {
        switch condition {
        case .test(let field, let op, let ignoreCase):
            if case .matchAll = op { return true }
            return values(field).contains { Self.test($0, op, ignoreCase: ignoreCase) }
        case .not(let inner): return !matches(inner)
        case .all(let list): return list.allSatisfy(matches)
        case .any(let list): return list.contains(where: matches)
        }
    }

    private static func test(_ value: String, _ op: RuleOperator, ignoreCase: Bool) -> Bool {
        let value = ignoreCase ? value.lowercased() : value
        func folded(_ s: String) -> String { ignoreCase ? s.lowercased() : s }
        switch op {
        case .matchAll: return true
        case .contains(let s): return s.isEmpty || value.contains(folded(s))
        case .equals(let s): return value == folded(s)
        case .prefix(let s): return value.hasPrefix(folded(s))
        case .suffix(let s): return value.hasSuffix(folded(s))
        case .regex(let regex): return regex.matches(value)
        case .cidr(let network): return network.contains(value)
        case .greaterThan(let n): return Int(value).map { $0 > n } ?? false
        case .lessThan(let n): return Int(value).map { $0 < n } ?? false
        }
    }

    /// The counting key of `per` for this event.
    func key(_ per: RuleCountKey) -> String {
        switch per {
        case .global: return ""
        case .clientIP: return session.clientIP ?? "unknown"
        case .sender: return (text(.sender) ?? "").lowercased()
        case .recipient: return (text(.recipient) ?? "").lowercased()
        case .triplet:
            return "\(session.clientIP ?? "unknown")/\((text(.sender) ?? "").lowercased())/\((text(.recipient) ?? "").lowercased())"
        }
    }
}

/// A rule that fired: which, and what it answered.
public struct RuleMatch: Hashable, Sendable {
    public var ruleID: String
    public var origin: String
    public var step: RuleStep
}

/// An ordered list of rules and the state they count with, shared by every
/// session (and every event loop) that uses it.
///
/// Matching and counting happen under one lock, so counts are exact: a
/// thousand sessions racing for a `numberOfAnswer: 5` rule get exactly five
/// answers between them. The per-key counts of each rule are bounded; the
/// least recently used key is forgotten first.
public final class RuleBook: Sendable {
    public let rules: [Rule]
    /// The smallest `CONTENT` threshold of any rule, if one has one.
    public let contentThreshold: Int?
    /// Whether any rule reads the message at the final dot.
    public let readsMessage: Bool
    /// The commands any rule answers: a session skips the lock for the others.
    public let commands: Set<RuleCommand>
    /// The same as a bit set, checked on every command without hashing.
    let commandMask: UInt32

    private struct RuleState: Sendable {
        var counts: LRUTable<String, Int>
        var random: SplitMix64?
        var expires: ContinuousClock.Instant?
    }

    private let state: Mutex<[RuleState]>
    private let random: any RandomSource
    private let now: @Sendable () -> ContinuousClock.Instant

    public static let defaultMaxKeys = 100_000

    /// Told when a counted rule gives its last answer for a key.
    private let events: EventHub?

    public init(rules: [Rule], maxKeysPerRule: Int = defaultMaxKeys, random: any RandomSource = SystemRandomSource(),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }, events: EventHub? = nil) {
        self.events = events
        self.rules = rules
        self.random = random
        self.now = now
        let loaded = now()
        state = Mutex(rules.map { rule in
            RuleState(counts: LRUTable(capacity: rule.isCounted ? max(1, maxKeysPerRule) : 1),
                      random: rule.seed.map(SplitMix64.init(seed:)),
                      expires: rule.ttl.map { loaded.advanced(by: $0) })
        })
        contentThreshold = rules.filter { $0.commands.contains(.content) }.map(\.contentBytes).min()
        readsMessage = rules.contains(where: \.readsMessage)
        commands = rules.reduce(into: []) { $0.formUnion($1.commands) }
        commandMask = commands.reduce(0) { $0 | $1.bit }
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// Whether any rule answers `command`.
    func answers(_ command: RuleCommand) -> Bool { commandMask & command.bit != 0 }

    /// The first rule that fires for `event`, counting its answer.
    func match(_ input: RuleInput) -> RuleMatch? {
        let command = RuleCommand(input.event)
        guard commands.contains(command) else { return nil }
        let now = now()
        return state.withLock { states -> RuleMatch? in
            for index in rules.indices {
                let rule = rules[index]
                guard rule.commands.contains(command) else { continue }
                if command == .content, case .content(let bytes) = input.event, bytes < rule.contentBytes { continue }
                if let expires = states[index].expires, now >= expires { continue }
                guard input.matches(rule.condition) else { continue }
                if let probability = rule.probability {
                    let draw = (states[index].random?.nextUnit() ?? random.nextUnit()) * 100
                    guard draw < probability else { continue }
                }
                guard let step = takeStep(rule, &states[index], key: rule.isCounted ? input.key(rule.countPer) : "") else {
                    continue
                }
                return RuleMatch(ruleID: rule.id, origin: rule.origin, step: step)
            }
            return nil
        }
    }

    /// The step this answer takes, or nil when the key's answers are used up.
    private func takeStep(_ rule: Rule, _ state: inout RuleState, key: String) -> RuleStep? {
        guard rule.isCounted else { return rule.steps.first }
        let used = state.counts.value(for: key) ?? 0
        let limit = rule.numberOfAnswer ?? rule.steps.count
        guard used < limit else { return nil }
        state.counts.set(used + 1, for: key)
        if used + 1 == limit {
            events?.publish(ServerEvent(.ruleExhausted, [("rule", rule.id), ("key", key.isEmpty ? "global" : key),
                                                         ("answers", String(limit))]))
        }
        return rule.steps[min(used, rule.steps.count - 1)]
    }

    /// A rule's counts, for the API: each key's answers (most recent first, at most `limit`).
    public func keyStates(ruleID: String, limit: Int = 1000) -> [(key: String, answered: Int)] {
        guard let index = rules.firstIndex(where: { $0.id == ruleID }) else { return [] }
        return state.withLock { $0[index].counts.newestFirst(limit: limit).map { ($0.key, $0.value) } }
    }

    /// Forgets every count and restarts every `ttl` (`POST /api/v1/reset`).
    public func resetState() {
        let loaded = now()
        state.withLock { states in
            for index in states.indices {
                states[index].counts = LRUTable(capacity: states[index].counts.capacity)
                states[index].random = rules[index].seed.map(SplitMix64.init(seed:))
                states[index].expires = rules[index].ttl.map { loaded.advanced(by: $0) }
            }
        }
    }

    /// For tests and the API: answers `key` has had from rule `id`.
    public func answers(ruleID: String, key: String = "") -> Int {
        guard let index = rules.firstIndex(where: { $0.id == ruleID }) else { return 0 }
        return state.withLock { $0[index].counts.peek(key) ?? 0 }
    }
}

/// Header lookup in a message's text, for `header:NAME` conditions.
enum HeaderLookup {
    /// The value of the first header `name` (lower-case) in the header block,
    /// unfolded and trimmed; nil when absent.
    static func value(of name: String, in message: String) -> String? {
        var current: (name: String, value: String)?
        var found: String?
        // "\r\n" is one Character: split on it and on a bare "\n".
        for line in message.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.isEmpty { break }
            if line.first == " " || line.first == "\t" {
                current?.value += " " + line.trimmingSMTPWhitespace()
                continue
            }
            if let current, current.name == name { found = current.value; break }
            guard let colon = line.firstIndex(of: ":") else { current = nil; continue }
            current = (line[..<colon].trimmingSMTPWhitespace().lowercased(), String(line[line.index(after: colon)...].trimmingSMTPWhitespace()))
        }
        if found == nil, let current, current.name == name { found = current.value }
        return found
    }
}

extension ReversePath {
    /// The address without angle brackets; empty for `<>`.
    public var bareAddress: String {
        switch self {
        case .null: ""
        case .mailbox(let mailbox): mailbox.description
        }
    }
}

extension ForwardPath {
    /// The address without angle brackets; `Postmaster` for `<Postmaster>`.
    public var bareAddress: String {
        switch self {
        case .postmaster: "Postmaster"
        case .mailbox(let mailbox): mailbox.description
        }
    }
}
