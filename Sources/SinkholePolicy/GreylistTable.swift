import SMTPProtocol
import Synchronization

/// How greylisting keys, times and answers, as Postgrey, SQLgrey and
/// milter-greylist do it (`docs/faults.md`, "Greylisting"). The defaults are
/// the plan's: key by client IP, no delay, a 30-minute window, `421` and close.
public struct GreylistSettings: Hashable, Sendable {
    /// What an entry is keyed on.
    public enum Key: String, Hashable, Sendable, CaseIterable {
        /// The full client IP.
        case ip
        /// The client's network: /24 for IPv4, /64 for IPv6.
        case net
        /// Network, sender (normalised as Postgrey does) and recipient.
        case triplet
    }

    /// Where the deferral is answered.
    public enum Answer: String, Hashable, Sendable, CaseIterable {
        /// At each RCPT, the session kept (Postgrey's 450).
        case rcpt
        /// The reply at the first RCPT, then close (the plan's 421).
        case close
    }

    public var key: Key = .ip
    /// A retry sooner than this after the first attempt stays deferred.
    public var delay: Duration = .zero
    /// A first retry later than this after the first attempt starts over.
    public var retryWindow: Duration = .seconds(1800)
    /// A passed entry not seen for this long is forgotten.
    public var maxAge: Duration = .seconds(1800)
    /// After this many passes, the client IP passes at once; 0: never.
    public var autoWhitelist: Int = 0
    /// nil: the reply decides (a `421` closes, a `450`/`451` keeps the session).
    public var answer: Answer?
    /// The deferral's reply. `%r` is the recipient, `%d` its domain, `%s`
    /// the seconds left, `%R` the time left as HH:MM:SS.
    public var replyCode: ReplyCode = .serviceNotAvailable
    public var replyEnhanced: EnhancedStatusCode? = EnhancedStatusCode(4, 3, 2)
    public var replyText = "Greylisted, try again later"
    public var ipv4Prefix = 24
    public var ipv6Prefix = 64

    public init() {}

    /// A named preset: the defaults and exact reply of each tool.
    public static func preset(_ name: String) -> GreylistSettings? {
        var s = GreylistSettings()
        switch name.lowercased() {
        case "plan", "sinkhole":
            return s
        case "postgrey":
            // Postgrey 1.37 behind Postfix: DEFER_IF_PERMIT rendered as 450 4.2.0 "<rcpt>: Recipient address rejected: ...".
            s.key = .triplet
            s.delay = .seconds(300)
            s.retryWindow = .seconds(2 * 86400)
            s.maxAge = .seconds(35 * 86400)
            s.autoWhitelist = 5
            s.answer = .rcpt
            s.replyCode = .mailboxBusy
            s.replyEnhanced = EnhancedStatusCode(4, 2, 0)
            s.replyText = "<%r>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/%d.html"
            return s
        case "sqlgrey":
            // SQLgrey 1.8: reconnect_delay 5 min, max_connect_age 24 h, awl_age 60 d, from_awl after one pass.
            s.key = .triplet
            s.delay = .seconds(300)
            s.retryWindow = .seconds(86400)
            s.maxAge = .seconds(60 * 86400)
            s.autoWhitelist = 1
            s.answer = .rcpt
            s.replyCode = .mailboxBusy
            s.replyEnhanced = EnhancedStatusCode(4, 7, 1)
            s.replyText = "<%r>: Recipient address rejected: Greylisted for 5 minutes"
            return s
        case "milter-greylist":
            // milter-greylist 4.x: greylist 30 min, timeout 5 d, autowhite 1 d, 451 4.7.1.
            s.key = .triplet
            s.delay = .seconds(1800)
            s.retryWindow = .seconds(5 * 86400)
            s.maxAge = .seconds(86400)
            s.autoWhitelist = 0
            s.answer = .rcpt
            s.replyCode = .localError
            s.replyEnhanced = EnhancedStatusCode(4, 7, 1)
            s.replyText = "Greylisting in action, please come back in %R"
            return s
        default:
            return nil
        }
    }

    public static let presetNames = "postgrey, sqlgrey, milter-greylist"

    /// The reply to a deferred attempt.
    public func reply(recipient: String, secondsLeft: Int) -> SMTPReply {
        var text = replyText
        if text.contains("%") {
            let domain = recipient.split(separator: "@").last.map(String.init) ?? recipient
            let hours = secondsLeft / 3600, minutes = secondsLeft / 60 % 60, seconds = secondsLeft % 60
            func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
            text = text.replacing("%r", with: recipient).replacing("%d", with: domain)
                .replacing("%s", with: String(secondsLeft))
                .replacing("%R", with: "\(two(hours)):\(two(minutes)):\(two(seconds))")
        }
        return SMTPReply(code: replyCode, enhanced: replyEnhanced, text)
    }
}

/// What the greylist said of an attempt, for the connection log.
public enum GreylistVerdict: String, Hashable, Sendable {
    /// First attempt: deferred and recorded.
    case new
    /// A retry before the delay was up: still deferred.
    case tooSoon = "too_soon"
    /// A retry after the delay: let through.
    case passed
    /// The client IP passed often enough to skip greylisting.
    case whitelisted

    public var defers: Bool { self == .new || self == .tooSoon }
}

/// The attempts the greylist has seen, keyed as its settings say.
///
/// Bounded: at most `capacity` entries (and as many auto-whitelisted
/// clients), the least recently seen forgotten first, so a flood of
/// addresses cannot grow it. Safe to share across event loops.
public final class GreylistTable: Sendable {
    public struct Statistics: Hashable, Sendable {
        public var entries: Int
        public var evictions: Int
    }

    private struct Entry: Sendable {
        var first: ContinuousClock.Instant
        var last: ContinuousClock.Instant
        var passed: Bool
        /// Attempts seen, and the gap before the last one (the client's backoff).
        var attempts = 1
        var lastGap: Duration?

        init(first: ContinuousClock.Instant, last: ContinuousClock.Instant, passed: Bool) {
            self.first = first
            self.last = last
            self.passed = passed
        }

        /// The same entry, seen again at `now`.
        func seen(at now: ContinuousClock.Instant, passed: Bool) -> Entry {
            var next = self
            next.lastGap = now - last
            next.last = now
            next.passed = passed
            next.attempts += 1
            return next
        }
    }

    private struct Client: Sendable {
        var passes: Int
        var lastCounted: ContinuousClock.Instant
        var last: ContinuousClock.Instant
    }

    private struct State: Sendable {
        var table: LRUTable<String, Entry>
        var clients: LRUTable<String, Client>
        var evictions = 0
    }

    public let settings: GreylistSettings
    public let capacity: Int
    private let state: Mutex<State>

    public static let defaultWindow: Duration = .seconds(30 * 60)
    public static let defaultCapacity = 100_000

    public init(settings: GreylistSettings = GreylistSettings(), capacity: Int = defaultCapacity) {
        self.settings = settings
        self.capacity = capacity
        self.state = Mutex(State(table: LRUTable(capacity: max(1, capacity)),
                                 clients: LRUTable(capacity: max(1, settings.autoWhitelist > 0 ? capacity : 1))))
    }

    /// The plan's greylist: client IP, any retry within `window` passes.
    public convenience init(window: Duration, capacity: Int = defaultCapacity) {
        var settings = GreylistSettings()
        settings.retryWindow = window
        settings.maxAge = window
        self.init(settings: settings, capacity: capacity)
    }

    /// One entry, for the API.
    public struct EntryInfo: Sendable {
        public var key: String
        public var passed: Bool
        /// Seconds ago.
        public var firstSecondsAgo: Double
        public var lastSecondsAgo: Double
        public var attempts: Int
        /// Seconds between the last two attempts.
        public var lastGapSeconds: Double?
    }

    /// Up to `limit` entries, most recently seen first.
    public func entries(now: ContinuousClock.Instant, limit: Int = 1000) -> [EntryInfo] {
        func seconds(_ duration: Duration) -> Double {
            let (s, atto) = duration.components
            return Double(s) + Double(atto) / 1e18
        }
        return state.withLock { state in
            state.table.newestFirst(limit: limit).map {
                EntryInfo(key: $0.key, passed: $0.value.passed, firstSecondsAgo: seconds(now - $0.value.first),
                          lastSecondsAgo: seconds(now - $0.value.last), attempts: $0.value.attempts,
                          lastGapSeconds: $0.value.lastGap.map(seconds))
            }
        }
    }

    /// Forgets every entry (`DELETE /api/v1/greylist`, `POST /api/v1/reset`).
    public func clear() {
        state.withLock { state in
            state.table = LRUTable(capacity: state.table.capacity)
            state.clients = LRUTable(capacity: state.clients.capacity)
        }
    }

    /// Lets `key` through from now on, as if its retry had come (`POST /api/v1/greylist/{key}/pass`).
    /// False when there is no such entry.
    @discardableResult
    public func pass(key: String, now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            guard var entry = state.table.peek(key) else { return false }
            entry.passed = true
            entry.last = now
            state.table.set(entry, for: key)
            return true
        }
    }

    /// The key of an attempt.
    public func key(clientIP: String, sender: String, recipient: String) -> String {
        switch settings.key {
        case .ip: return clientIP
        case .net: return Self.network(clientIP, v4: settings.ipv4Prefix, v6: settings.ipv6Prefix)
        case .triplet:
            let net = Self.network(clientIP, v4: settings.ipv4Prefix, v6: settings.ipv6Prefix)
            return "\(net)/\(Self.normaliseSender(sender))/\(recipient.lowercased())"
        }
    }

    /// Records an attempt at `now` and says what becomes of it.
    public func check(clientIP: String, sender: String, recipient: String, now: ContinuousClock.Instant) -> (GreylistVerdict, secondsLeft: Int) {
        let key = key(clientIP: clientIP, sender: sender, recipient: recipient)
        let settings = settings
        return state.withLock { state in
            if settings.autoWhitelist > 0, let client = state.clients.value(for: clientIP),
               client.passes >= settings.autoWhitelist, now - client.last < settings.maxAge {
                state.clients.set(Client(passes: client.passes, lastCounted: client.lastCounted, last: now), for: clientIP)
                return (.whitelisted, 0)
            }
            if let entry = state.table.value(for: key) {
                if entry.passed {
                    if now - entry.last < settings.maxAge {
                        state.table.set(entry.seen(at: now, passed: true), for: key)
                        return (.passed, 0)
                    }
                } else if now - entry.first <= settings.retryWindow {
                    let waited = now - entry.first
                    if waited < settings.delay {
                        state.table.set(entry.seen(at: now, passed: false), for: key)
                        let left = settings.delay - waited
                        return (.tooSoon, Int(left.components.seconds) + (left.components.attoseconds > 0 ? 1 : 0))
                    }
                    state.table.set(entry.seen(at: now, passed: true), for: key)
                    countPass(&state, clientIP: clientIP, now: now)
                    return (.passed, 0)
                }
            }
            // New, or expired: deferred and recorded.
            if state.table.set(Entry(first: now, last: now, passed: false), for: key) != nil { state.evictions += 1 }
            let left = settings.delay
            return (.new, Int(left.components.seconds))
        }
    }

    /// A first pass counts toward the client's auto-whitelist, at most once an hour (Postgrey's rule).
    private func countPass(_ state: inout State, clientIP: String, now: ContinuousClock.Instant) {
        guard settings.autoWhitelist > 0 else { return }
        if var client = state.clients.value(for: clientIP) {
            if now - client.lastCounted >= .seconds(3600) {
                client.passes += 1
                client.lastCounted = now
            }
            client.last = now
            state.clients.set(client, for: clientIP)
        } else {
            state.clients.set(Client(passes: 1, lastCounted: now, last: now), for: clientIP)
        }
    }

    /// The plan's check: `true` when `clientIP` was seen within the window.
    public func admit(_ clientIP: String, now: ContinuousClock.Instant) -> Bool {
        !check(clientIP: clientIP, sender: "", recipient: "", now: now).0.defers
    }

    public var statistics: Statistics {
        state.withLock { Statistics(entries: $0.table.count, evictions: $0.evictions) }
    }

    /// `192.0.2.77` → `192.0.2.0/24`; `2001:db8:1:2:3::4` → its /64.
    static func network(_ ip: String, v4: Int, v6: Int) -> String {
        guard let bytes = IPAddressBytes.parse(ip[...]) else { return ip }
        let prefix = bytes.count == 4 ? v4 : v6
        var masked = bytes
        var remaining = prefix
        for index in masked.indices {
            let mask: UInt8 = remaining >= 8 ? 0xFF : (remaining <= 0 ? 0 : ~(0xFF >> UInt8(remaining)))
            masked[index] &= mask
            remaining -= 8
        }
        if bytes.count == 4 { return masked.map(String.init).joined(separator: ".") + "/\(prefix)" }
        var groups: [String] = []
        for index in stride(from: 0, to: 16, by: 2) {
            groups.append(String(UInt16(masked[index]) << 8 | UInt16(masked[index + 1]), radix: 16))
        }
        return groups.joined(separator: ":") + "/\(prefix)"
    }

    /// Postgrey's sender normalisation: lower-case, BATV `prvs=tag=` dropped,
    /// `+extension` stripped, runs of digits in the local part replaced by `#`.
    static func normaliseSender(_ sender: String) -> String {
        var address = sender.lowercased()
        guard let at = address.lastIndex(of: "@") else { return address }
        var local = String(address[..<at])
        let domain = address[at...]
        if local.hasPrefix("prvs="), let second = local.dropFirst(5).firstIndex(of: "=") {
            local = String(local[local.index(after: second)...])
        }
        if let plus = local.firstIndex(of: "+") { local = String(local[..<plus]) }
        var out = ""
        var inDigits = false
        for character in local {
            if character.isASCIIDigitCharacter {
                if !inDigits { out.append("#") }
                inDigits = true
            } else {
                out.append(character)
                inDigits = false
            }
        }
        address = out + domain
        return address
    }
}
