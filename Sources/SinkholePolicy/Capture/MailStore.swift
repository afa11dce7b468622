import SMTPProtocol
import Synchronization

/// An ESMTP parameter as the client wrote it: `SIZE=100` is ("SIZE", "100"), `SMTPUTF8` is ("SMTPUTF8", "").
public struct MailParameterText: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public init(_ parameter: MailParameter) {
        switch parameter {
        case .size(let n): self.init(name: "SIZE", value: String(n))
        case .body(let body): self.init(name: "BODY", value: body.rawValue)
        case .smtpUTF8: self.init(name: "SMTPUTF8", value: "")
        case .dsn(let keyword, let value): self.init(name: keyword.rawValue, value: value)
        case .other(let keyword, let value): self.init(name: keyword, value: value ?? "")
        }
    }
}

/// One accepted message, as `--capture memory` keeps it.
public struct CapturedMail: Sendable {
    public struct Recipient: Hashable, Sendable {
        public var address: String
        public var parameters: [MailParameterText]

        public init(address: String, parameters: [MailParameterText] = []) {
            self.address = address
            self.parameters = parameters
        }
    }

    /// Assigned by the store, in arrival order.
    public internal(set) var sequence: UInt64 = 0
    public var queueID: String
    /// Seconds since 1970 when the final dot was answered.
    public var receivedAt: Double
    /// The reverse-path without angle brackets; `<>` for the null sender (as James writes it).
    public var from: String
    public var mailParameters: [MailParameterText]
    public var recipients: [Recipient]
    public var clientIP: String
    public var helo: String
    public var listener: String
    /// The content as received, dot-unstuffed, CRLF line ends kept.
    public var message: [UInt8]
    /// Fetched whole through the API (Mailpit's `Read`).
    public var read = false
    /// Who AUTH said the client was; nil: not authenticated.
    public var authUser: String?
    /// How the message came over TLS; nil: in plain.
    public var tls: TLS?

    public struct TLS: Hashable, Sendable {
        /// `TLSv1.3`, `TLSv1.2`.
        public var version: String
        /// IANA's name of the cipher suite.
        public var cipher: String?
        /// The client's SNI name, if it sent one.
        public var serverName: String?

        public init(version: String, cipher: String?, serverName: String?) {
            self.version = version
            self.cipher = cipher
            self.serverName = serverName
        }
    }
    /// The transaction as it went: each command from MAIL FROM on, the reply
    /// sent and the decision behind it (`rule r3`; nil for the protocol's own).
    public var transaction: [Step] = []

    public struct Step: Hashable, Sendable {
        public var command: String
        public var reply: String
        public var decision: String?

        public init(command: String, reply: String, decision: String?) {
            self.command = command
            self.reply = reply
            self.decision = decision
        }
    }

    public init(queueID: String, receivedAt: Double, from: String, mailParameters: [MailParameterText],
                recipients: [Recipient], clientIP: String, helo: String, listener: String, message: [UInt8]) {
        self.queueID = queueID
        self.receivedAt = receivedAt
        self.from = from
        self.mailParameters = mailParameters
        self.recipients = recipients
        self.clientIP = clientIP
        self.helo = helo
        self.listener = listener
        self.message = message
    }

    /// What the message costs the budget.
    var cost: Int { message.count + 256 + recipients.reduce(0) { $0 + $1.address.utf8.count + 32 } }
}

/// Captured mail in memory, bounded by a count and a byte budget; the
/// oldest is evicted first.
///
/// Messages still being received reserve their bytes from a second budget
/// of the same size, so capture holds at most twice `maxBytes` in all.
public final class MailStore: Sendable {
    public let maxMessages: Int
    public let maxBytes: Int

    private struct State: Sendable {
        /// Oldest first; `head` skips the evicted ones without shifting.
        var mails: [CapturedMail] = []
        var head = 0
        var bytes = 0
        var next: UInt64 = 1
        var evicted = 0
        var refused = 0
        var deleted = 0
        var accepted = 0
        var acceptedBytes = 0
        var waiters: [Waiter] = []
        var nextWaiter = 0

        var count: Int { mails.count - head }

        mutating func compact() {
            guard head > 64, head * 2 > mails.count else { return }
            mails.removeFirst(head)
            head = 0
        }
    }

    struct Waiter: Sendable {
        var id: Int
        var count: Int
        var continuation: CheckedContinuation<Bool, Never>
    }

    /// Most requests waiting for mail at once (`GET /api/v1/messages/wait`).
    public static let maxWaiters = 256

    private let state = Mutex(State())
    private let inFlight = Atomic<Int>(0)

    /// Told of each message kept.
    private let events: EventHub?

    public init(maxMessages: Int = 1000, maxBytes: Int = 32 << 20, events: EventHub? = nil) {
        self.maxMessages = max(1, maxMessages)
        self.maxBytes = max(1, maxBytes)
        self.events = events
    }

    // MARK: - Receiving

    /// Reserves `bytes` more for a message being received; false when the
    /// in-flight budget is spent or one message would pass the whole budget
    /// (the message is then refused with 452 4.3.1, nothing evicted).
    public func reserve(_ bytes: Int, total: Int) -> Bool {
        guard total <= maxBytes else { return false }
        let after = inFlight.add(bytes, ordering: .relaxed).newValue
        guard after <= maxBytes else {
            inFlight.subtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Gives back what ``reserve(_:total:)`` took for a message.
    public func release(_ bytes: Int) {
        if bytes > 0 { inFlight.subtract(bytes, ordering: .relaxed) }
    }

    /// Keeps a message, evicting the oldest until it fits.
    @discardableResult
    public func add(_ mail: CapturedMail) -> UInt64 {
        var mail = mail
        let sequence = state.withLock { state in
            mail.sequence = state.next
            state.next += 1
            state.accepted += 1
            state.acceptedBytes += mail.message.count
            state.bytes += mail.cost
            state.mails.append(mail)
            while state.count > maxMessages || (state.bytes > maxBytes && state.count > 1) {
                state.bytes -= state.mails[state.head].cost
                state.mails[state.head].message = []
                state.head += 1
                state.evicted += 1
            }
            state.compact()
            return mail.sequence
        }
        wake()
        events?.publish(ServerEvent(.messageCaptured, [
            ("queue_id", mail.queueID), ("from", mail.from), ("recipients", mail.recipients.map(\.address).joined(separator: ",")),
            ("size", String(mail.message.count)),
        ]))
        return sequence
    }

    /// Waits until the store holds at least `count` messages; false after `timeout`,
    /// or at once when too many requests already wait.
    public func wait(forCount count: Int, timeout: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let outcome = state.withLock { state -> (id: Int, answer: Bool?) in
                if state.count >= count { return (0, true) }
                if state.waiters.count >= Self.maxWaiters { return (0, false) }
                state.nextWaiter += 1
                state.waiters.append(Waiter(id: state.nextWaiter, count: count, continuation: continuation))
                return (state.nextWaiter, nil)
            }
            if let answer = outcome.answer { return continuation.resume(returning: answer) }
            let id = outcome.id
            Task { [self] in
                try? await Task.sleep(for: timeout)
                let waiter = state.withLock { state -> Waiter? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index)
                }
                waiter?.continuation.resume(returning: false)
            }
        }
    }

    private func wake() {
        let ready = state.withLock { state -> [Waiter] in
            guard !state.waiters.isEmpty else { return [] }
            let count = state.count
            let ready = state.waiters.filter { $0.count <= count }
            state.waiters.removeAll { $0.count <= count }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: true) }
    }

    /// Counts a message refused for want of room.
    public func noteRefused() { state.withLock { $0.refused += 1 } }

    // MARK: - Reading

    /// Every message, oldest first.
    public var all: [CapturedMail] { state.withLock { Array($0.mails[$0.head...]) } }

    public var count: Int { state.withLock { $0.count } }

    /// Takes every message out in one step: one that arrives meanwhile is
    /// either in the answer or still stored, never lost.
    public func drain() -> [CapturedMail] {
        state.withLock { state in
            let out = Array(state.mails[state.head...])
            state = State(next: state.next, evicted: state.evicted, refused: state.refused,
                          deleted: state.deleted + out.count, accepted: state.accepted, acceptedBytes: state.acceptedBytes,
                          waiters: state.waiters, nextWaiter: state.nextWaiter)
            return out
        }
    }

    public func clear() { _ = drain() }

    /// The message with this queue id; `markRead` sets its `read` (Mailpit marks a message read when it is fetched).
    public func mail(id: String, markRead: Bool = false) -> CapturedMail? {
        state.withLock { state in
            guard let index = state.mails[state.head...].lastIndex(where: { $0.queueID == id }) else { return nil }
            if markRead { state.mails[index].read = true }
            return state.mails[index]
        }
    }

    /// Sets `read` on these messages (all when `ids` is nil); how many there were.
    @discardableResult
    public func setRead(_ read: Bool, ids: Set<String>?) -> Int {
        state.withLock { state in
            var changed = 0
            for index in state.mails.indices[state.head...] where ids?.contains(state.mails[index].queueID) ?? true {
                state.mails[index].read = read
                changed += 1
            }
            return changed
        }
    }

    /// Deletes these messages; how many there were.
    @discardableResult
    public func delete(ids: Set<String>) -> Int {
        state.withLock { state in
            let before = state.count
            var kept: [CapturedMail] = []
            kept.reserveCapacity(before)
            var bytes = 0
            for mail in state.mails[state.head...] where !ids.contains(mail.queueID) {
                kept.append(mail)
                bytes += mail.cost
            }
            state.mails = kept
            state.head = 0
            state.bytes = bytes
            state.deleted += before - kept.count
            return before - kept.count
        }
    }

    public struct Statistics: Sendable, Hashable {
        public var messages: Int
        public var unread: Int
        public var bytes: Int
        public var evicted: Int
        public var refused: Int
        public var deleted: Int
        public var accepted: Int
        public var acceptedBytes: Int
    }

    public var statistics: Statistics {
        state.withLock { state in
            Statistics(messages: state.count, unread: state.mails[state.head...].count { !$0.read }, bytes: state.bytes,
                       evicted: state.evicted, refused: state.refused, deleted: state.deleted,
                       accepted: state.accepted, acceptedBytes: state.acceptedBytes)
        }
    }
}
