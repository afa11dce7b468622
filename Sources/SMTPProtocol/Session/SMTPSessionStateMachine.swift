/// What the server does after the state machine has taken an input.
public enum SessionAction: Hashable, Sendable {
    /// Send this reply and read the next command.
    case reply(SMTPReply)
    /// Send this reply, then close the connection (`221` after QUIT, any `421`).
    case replyAndClose(SMTPReply)
    /// Send this reply (`354`) and read what follows as message content.
    case startData(SMTPReply)
    /// Nothing: the session is already closed.
    case none
}

/// The settings a session runs with.
public struct SessionConfiguration: Hashable, Sendable {
    /// The name in the greeting and the EHLO reply.
    public var hostname: String
    /// Most recipients one transaction may have; the next gets `452 4.5.3`.
    public var maxRecipients: Int
    /// Largest message in octets; advertised as `SIZE`, larger ones get `552 5.3.4`.
    public var maxMessageSize: Int

    public init(
        hostname: String,
        maxRecipients: Int = SMTPDefaults.maxRecipients,
        maxMessageSize: Int = SMTPDefaults.maxMessageSize
    ) {
        self.hostname = hostname
        self.maxRecipients = maxRecipients
        self.maxMessageSize = maxMessageSize
    }

    /// The EHLO keywords, each of which sinkhole implements.
    public var extensions: [String] {
        ["PIPELINING", "SIZE \(maxMessageSize)", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
    }
}

/// The sequence rules of an SMTP session (RFC 5321 §4.1.4), as a value with no
/// I/O: feed it commands, get back what to send.
///
/// ```
/// var session = SMTPSessionStateMachine(configuration: config, clientIP: "192.0.2.1")
/// session.receive(.mail(from: .null, parameters: []), decider: &policy)
/// // .reply(503 5.5.1 Send HELO/EHLO first)
/// ```
public struct SMTPSessionStateMachine: Sendable {
    private enum State: Hashable, Sendable {
        /// Greeted; no HELO/EHLO yet.
        case greeted
        /// HELO/EHLO seen, no transaction open.
        case ready
        /// MAIL FROM accepted; recipients being collected.
        case transaction
        /// 354 sent; message content is being read.
        case receivingData
        case closed
    }

    public let configuration: SessionConfiguration
    private var state: State = .greeted
    private var snapshot: SessionSnapshot
    /// Recipients accepted in the open transaction.
    public private(set) var recipients: [ForwardPath] = []
    /// Recipients refused (by policy or limit) in the open transaction.
    public private(set) var refusedRecipients = 0

    public init(configuration: SessionConfiguration, clientIP: String?) {
        self.configuration = configuration
        self.snapshot = SessionSnapshot(clientIP: clientIP)
    }

    /// The HELO/EHLO name, once given.
    public var heloName: String? { snapshot.heloName }
    /// The sender of the open transaction.
    public var reversePath: ReversePath? { snapshot.reversePath }
    /// `true` between `354` and the end of the message.
    public var isReceivingData: Bool { state == .receivingData }
    public var isClosed: Bool { state == .closed }

    /// The first reply of the session: the greeting, or what the policy puts in its place.
    public mutating func greeting(decider: inout some SMTPDecider) -> SessionAction {
        switch decider.decide(.connect, snapshot) {
        case .proceed:
            return .reply(.greeting(hostname: configuration.hostname))
        case .reply(let reply):
            // A client refused at connect gets the reply and a closed connection.
            state = .closed
            return .replyAndClose(reply)
        }
    }

    /// A line that could not be parsed: its error reply, without changing state.
    public func reject(_ error: SMTPParseError) -> SessionAction {
        state == .closed ? .none : .reply(error.reply)
    }

    /// One parsed command.
    public mutating func receive(_ command: SMTPCommand, decider: inout some SMTPDecider) -> SessionAction {
        switch state {
        case .closed:
            return .none
        case .receivingData:
            // The server reads content, not commands, in this state.
            return .reply(.badSequence("Command during message content"))
        case .greeted, .ready, .transaction:
            break
        }
        switch command {
        case .helo(let domain):
            startOver(helo: domain)
            return .reply(.helo(hostname: configuration.hostname))
        case .ehlo(let domain):
            startOver(helo: domain)
            return .reply(.ehlo(hostname: configuration.hostname, extensions: configuration.extensions))
        case .mail(let from, let parameters):
            return mail(from: from, parameters: parameters)
        case .rcpt(let to):
            return rcpt(to: to, decider: &decider)
        case .data:
            return data(decider: &decider)
        case .rset:
            if state == .transaction { resetTransaction(); state = .ready }
            return .reply(.ok)
        case .noop:
            return .reply(.ok)
        case .quit:
            state = .closed
            return .replyAndClose(.bye)
        case .vrfy:
            return .reply(.cannotVerify)
        case .help:
            return .reply(.help)
        case .notImplemented:
            return .reply(.commandNotImplemented)
        }
    }

    /// The end of a message: `size` octets of content after dot-unstuffing;
    /// `exceededLimit` when content was dropped for passing the size limit.
    public mutating func receiveEndOfData(
        size: Int, exceededLimit: Bool, queueID: String, decider: inout some SMTPDecider
    ) -> SessionAction {
        guard state == .receivingData else { return .none }
        defer { if state == .receivingData { resetTransaction(); state = .ready } }
        if exceededLimit || size > configuration.maxMessageSize {
            return .reply(.messageTooBig)
        }
        return finish(decider.decide(.endOfData(size: size), snapshot), normal: .queued(id: queueID))
    }

    /// Closes the session from outside (timeout, shutdown, the peer went away).
    public mutating func close() { state = .closed }

    // MARK: - Commands

    private mutating func startOver(helo: String) {
        resetTransaction()
        snapshot.heloName = helo
        state = .ready
    }

    private mutating func resetTransaction() {
        snapshot.reversePath = nil
        snapshot.acceptedRecipients = 0
        recipients.removeAll(keepingCapacity: true)
        refusedRecipients = 0
    }

    private mutating func mail(from: ReversePath, parameters: [MailParameter]) -> SessionAction {
        switch state {
        case .greeted: return .reply(.sendHeloFirst)
        case .transaction: return .reply(.nestedMail)
        default: break
        }
        for case .size(let declared) in parameters where declared > configuration.maxMessageSize {
            return .reply(.messageTooBig)
        }
        snapshot.reversePath = from
        state = .transaction
        return .reply(.senderOK)
    }

    private mutating func rcpt(to: ForwardPath, decider: inout some SMTPDecider) -> SessionAction {
        switch state {
        case .greeted: return .reply(.sendHeloFirst)
        case .ready: return .reply(.needMail)
        default: break
        }
        guard recipients.count < configuration.maxRecipients else {
            refusedRecipients += 1
            return .reply(.tooManyRecipients)
        }
        let action = finish(decider.decide(.rcpt(to), snapshot), normal: .recipientOK)
        if case .reply(let reply) = action, reply.code.isPositive {
            recipients.append(to)
            snapshot.acceptedRecipients = recipients.count
        } else {
            refusedRecipients += 1
        }
        return action
    }

    private mutating func data(decider: inout some SMTPDecider) -> SessionAction {
        switch state {
        case .greeted: return .reply(.sendHeloFirst)
        case .ready: return .reply(.needMail)
        default: break
        }
        guard !recipients.isEmpty else {
            return .reply(refusedRecipients > 0 ? .noValidRecipients : .needRecipient)
        }
        switch decider.decide(.data, snapshot) {
        case .proceed:
            state = .receivingData
            return .startData(.startMailInput)
        case .reply(let reply):
            return finish(.reply(reply), normal: .ok)
        }
    }

    /// Turns a decision into an action: the normal reply, or the policy's,
    /// with a `421` closing the session.
    private mutating func finish(_ decision: SMTPDecision, normal: SMTPReply) -> SessionAction {
        switch decision {
        case .proceed:
            return .reply(normal)
        case .reply(let reply) where reply.closesConnection:
            state = .closed
            return .replyAndClose(reply)
        case .reply(let reply):
            return .reply(reply)
        }
    }
}
