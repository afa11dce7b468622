/// What the server does after the state machine has taken an input.
public enum SessionAction: Hashable, Sendable {
    /// Send this reply and read the next command.
    case reply(SMTPReply)
    /// Send this reply, then close the connection (`221` after QUIT, any `421`).
    case replyAndClose(SMTPReply)
    /// Send this reply (`354`) and read what follows as message content.
    case startData(SMTPReply)
    /// Send these replies in order (LMTP's one per recipient after the message); a `421` among them closes.
    case replies([SMTPReply])
    /// Send nothing yet: read the BDAT chunk's octets, exactly, then call
    /// ``SMTPSessionStateMachine/receiveEndOfChunk(exceededLimit:storageFull:queueID:message:decider:)``.
    case receiveChunk(BDATChunk)
    /// Send this reply (`220`), discard anything the client sent after
    /// STARTTLS, and start the TLS handshake (RFC 3207 §4.2).
    case startTLS(SMTPReply)
    /// Send this reply (`220`), then break the handshake: close, or garbage then close.
    case breakTLS(SMTPReply, TLSBreak)
    /// Close the connection without a reply (a FIN).
    case disconnect
    /// Reset the connection (an RST).
    case reset
    /// Answer nothing more: read and discard until the client or a limit ends it.
    case hang
    /// Nothing: the session is already closed.
    case none
}

/// A BDAT chunk the shell is to read (RFC 3030).
public struct BDATChunk: Hashable, Sendable {
    /// Its octets, exactly: no line is looked for inside it.
    public var size: Int
    /// `BDAT n LAST`: the message ends with it.
    public var last: Bool
    /// The transaction's first chunk: a new message starts.
    public var starts: Bool
    /// `false`: the chunk is refused; its octets are read and dropped, then the refusal sent.
    public var keep: Bool
}

/// The settings a session runs with.
///
/// One reference to copy per session: the values, the reply book and the
/// capabilities they give are worked out once, in an immutable box that a
/// change replaces (settings change at start, sessions copy them by the
/// thousand).
public struct SessionConfiguration: Hashable, Sendable {
    private struct Values: Hashable, Sendable {
        var hostname: String
        var personality: SMTPPersonality
        var maxRecipients: Int
        var maxMessageSize: Int
        var startTLS: Bool
        var requireTLS: Bool
        var authMechanisms: [SASLMechanism]
        var authOverTLSOnly = false
        var requireAuth: Bool
        var pipelining = true
        var eightBitMIME = true
        var smtpUTF8 = true
        var enhancedStatusCodes = true
        var esmtp = true
        var dsn = true
        var chunking = true
        var xclient = true
        var xforward = true
        var lmtp = false
        var greeting: String?
    }

    private final class Storage: Sendable {
        let values: Values
        let replies: SMTPReplyBook
        let capabilities: SessionCapabilities

        init(_ values: Values) {
            self.values = values
            replies = SMTPReplyBook(personality: values.personality, hostname: values.hostname, esmtp: values.esmtp,
                                    greeting: values.greeting, lmtp: values.lmtp)
            var capabilities = SessionCapabilities(maxMessageSize: values.maxMessageSize)
            capabilities.startTLS = values.startTLS
            if !values.authOverTLSOnly { capabilities.authMechanisms = values.authMechanisms }
            capabilities.pipelining = values.pipelining
            capabilities.eightBitMIME = values.eightBitMIME
            capabilities.smtpUTF8 = values.smtpUTF8
            capabilities.enhancedStatusCodes = values.enhancedStatusCodes
            capabilities.dsn = values.dsn
            capabilities.chunking = values.chunking
            self.capabilities = capabilities
            capabilities.xclient = values.xclient
            capabilities.xforward = values.xforward
            proxyCapabilities = capabilities
        }
        /// For the clients `--xclient-from` allows XCLIENT and XFORWARD: made once, not per session.
        let proxyCapabilities: SessionCapabilities
    }

    private var storage: Storage

    private mutating func set<T>(_ path: WritableKeyPath<Values, T>, _ value: T) {
        var values = storage.values
        values[keyPath: path] = value
        storage = Storage(values)
    }

    /// The name in the greeting and the EHLO reply.
    public var hostname: String { storage.values.hostname }
    /// Whose words the normal replies are in.
    public var personality: SMTPPersonality { storage.values.personality }
    /// Most recipients one transaction may have; the next gets `452 4.5.3`.
    public var maxRecipients: Int {
        get { storage.values.maxRecipients }
        set { set(\.maxRecipients, newValue) }
    }
    /// Largest message in octets; advertised as `SIZE`, larger ones get `552 5.3.4`.
    public var maxMessageSize: Int {
        get { storage.values.maxMessageSize }
        set { set(\.maxMessageSize, newValue) }
    }
    /// The replies sessions make themselves, built once for all of them.
    public var replies: SMTPReplyBook { storage.replies }
    /// The listener can start TLS: STARTTLS is offered until the connection is encrypted.
    public var startTLS: Bool {
        get { storage.values.startTLS }
        set { set(\.startTLS, newValue) }
    }
    /// `--require-tls`: MAIL before TLS gets `530 5.7.0 Must issue a STARTTLS command first`.
    public var requireTLS: Bool {
        get { storage.values.requireTLS }
        set { set(\.requireTLS, newValue) }
    }
    /// AUTH's mechanisms; empty: AUTH not offered.
    public var authMechanisms: [SASLMechanism] {
        get { storage.values.authMechanisms }
        set { set(\.authMechanisms, newValue) }
    }
    /// AUTH is offered (and taken) only on an encrypted connection.
    public var authOverTLSOnly: Bool {
        get { storage.values.authOverTLSOnly }
        set { set(\.authOverTLSOnly, newValue) }
    }
    /// `--require-auth`: MAIL before AUTH gets `530 5.7.0 Authentication required`.
    public var requireAuth: Bool {
        get { storage.values.requireAuth }
        set { set(\.requireAuth, newValue) }
    }
    /// The EHLO keywords sinkhole can withhold (`--no-pipelining`, `--no-8bitmime`,
    /// `--no-smtputf8`, `--no-enhancedstatuscodes`; smtp-sink's `-p`, `-8`, `-E`).
    /// Without ENHANCEDSTATUSCODES the replies go without them too.
    public var pipelining: Bool {
        get { storage.values.pipelining }
        set { set(\.pipelining, newValue) }
    }
    public var eightBitMIME: Bool {
        get { storage.values.eightBitMIME }
        set { set(\.eightBitMIME, newValue) }
    }
    public var smtpUTF8: Bool {
        get { storage.values.smtpUTF8 }
        set { set(\.smtpUTF8, newValue) }
    }
    public var enhancedStatusCodes: Bool {
        get { storage.values.enhancedStatusCodes }
        set { set(\.enhancedStatusCodes, newValue) }
    }
    /// `--no-dsn` (smtp-sink's `-N`): DSN is not offered, and its parameters get `555 5.5.4`.
    public var dsn: Bool {
        get { storage.values.dsn }
        set { set(\.dsn, newValue) }
    }
    /// `--no-chunking`: CHUNKING and BINARYMIME are not offered, and BDAT gets `502 5.5.1`.
    public var chunking: Bool {
        get { storage.values.chunking }
        set { set(\.chunking, newValue) }
    }
    /// LMTP (RFC 2033; a listener's `lmtp`, smtp-sink's `-L`): LHLO instead of HELO/EHLO, and one reply per recipient after the message.
    public var lmtp: Bool {
        get { storage.values.lmtp }
        set { set(\.lmtp, newValue) }
    }
    /// `--no-xclient`, `--no-xforward` (smtp-sink's `-C`, `-F`): Postfix's XCLIENT and XFORWARD
    /// not offered, even to the clients `--xclient-from` names.
    public var xclient: Bool {
        get { storage.values.xclient }
        set { set(\.xclient, newValue) }
    }
    public var xforward: Bool {
        get { storage.values.xforward }
        set { set(\.xforward, newValue) }
    }
    /// `--no-esmtp` (smtp-sink's `-e`): HELO only; EHLO is an unknown command, the greeting says no ESMTP.
    public var esmtp: Bool {
        get { storage.values.esmtp }
        set { set(\.esmtp, newValue) }
    }
    /// `--greeting TEXT`: the greeting is `220 TEXT`; nil: the personality's.
    public var greeting: String? {
        get { storage.values.greeting }
        set { set(\.greeting, newValue) }
    }

    public init(
        hostname: String,
        personality: SMTPPersonality = .sinkhole,
        maxRecipients: Int = SMTPDefaults.maxRecipients,
        maxMessageSize: Int = SMTPDefaults.maxMessageSize,
        startTLS: Bool = false,
        requireTLS: Bool = false,
        authMechanisms: [SASLMechanism] = [],
        requireAuth: Bool = false
    ) {
        storage = Storage(Values(hostname: hostname, personality: personality, maxRecipients: maxRecipients,
                                 maxMessageSize: maxMessageSize, startTLS: startTLS, requireTLS: requireTLS,
                                 authMechanisms: authMechanisms, requireAuth: requireAuth))
    }

    /// The same settings in another personality's words.
    public func speaking(_ personality: SMTPPersonality) -> SessionConfiguration {
        guard personality != self.personality else { return self }
        var copy = self
        copy.set(\.personality, personality)
        return copy
    }

    /// What a session offers unless its policy says otherwise (before TLS).
    public var capabilities: SessionCapabilities { storage.capabilities }
    /// The same, with XCLIENT and XFORWARD as configured: what a client allowed them gets.
    var proxyCapabilities: SessionCapabilities { storage.proxyCapabilities }

    /// The EHLO keywords, each of which sinkhole implements.
    public var extensions: [String] { capabilities.keywords }

    // The reply book and capabilities follow from the values.
    public static func == (a: SessionConfiguration, b: SessionConfiguration) -> Bool {
        a.storage === b.storage || a.storage.values == b.storage.values
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(storage.values) }
}

/// The sequence rules of an SMTP session (RFC 5321 §4.1.4), as a value with no
/// I/O: feed it commands, get back what to send.
///
/// Every reply but a syntax or sequence error is asked of the decider
/// first; a decision other than `.proceed` replaces the reply and the
/// command does not take effect (a refused MAIL opens no transaction, a
/// refused RCPT adds no recipient, a refused RSET resets nothing).
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
    /// The replies the session makes itself.
    public var replies: SMTPReplyBook { configuration.replies }
    private var snapshot: SessionSnapshot
    /// What the session offers now: the configured set, or the policy's for this session.
    public private(set) var capabilities: SessionCapabilities {
        get { ownCapabilities?.value ?? configuredCapabilities }
        set {
            ownCapabilities = CapabilitiesBox(newValue)
            maxMessageSize = newValue.maxMessageSize
            enhancedStatusCodes = newValue.enhancedStatusCodes
        }
    }
    /// Offers what the configuration offers this client (no box while TLS is off), or that
    /// with a policy's `adjustments`. Without comparing sets: that cost more than the rest
    /// of a connection's capabilities.
    private mutating func offerBase(adjustedBy adjustments: CapabilityAdjustments? = nil) {
        if adjustments == nil && !snapshot.tls {
            ownCapabilities = nil
            maxMessageSize = configuration.maxMessageSize
            enhancedStatusCodes = configuration.enhancedStatusCodes
        } else {
            let base = baseCapabilities
            capabilities = adjustments?.applied(to: base) ?? base
        }
    }
    /// The limit on message content now in force (the capabilities'). Stored: the shell
    /// asks it for every part of a message, and a computed property of this struct,
    /// called from another module, copies all of it.
    public private(set) var maxMessageSize = 0
    /// What the configuration offers this client, before TLS and the policy change it.
    private var configuredCapabilities: SessionCapabilities {
        proxyAuthorized ? configuration.proxyCapabilities : configuration.capabilities
    }
    /// Capabilities other than the configuration's (after STARTTLS, a policy's EHLO
    /// keywords), boxed: a session offering the configured set carries one word for them
    /// instead of 64 bytes.
    private final class CapabilitiesBox: Sendable {
        let value: SessionCapabilities
        init(_ value: SessionCapabilities) { self.value = value }
    }
    private var ownCapabilities: CapabilitiesBox?
    /// Recipients refused (by policy or limit) in the open transaction.
    public private(set) var refusedRecipients = 0
    /// How the last action's reply goes on the wire.
    /// (Stored: the shell asks it for every reply, and a computed property of this struct,
    /// called from another module, copies all of it.)
    public private(set) var delivery: SMTPDelivery = .immediate
    /// The last reply was the policy's choice, not the protocol's (a rule's
    /// 500 is no client error, and counts toward no error limit).
    public private(set) var decided = false
    /// The last decision's `deliver` (captured mail whatever the reply said); nil: as the reply says.
    public private(set) var deliver: Bool?
    // The one-byte fields together, so they share a word (the shell's handler
    // holds this machine, and must stay within malloc's per-thread cache).
    private var state: State = .greeted
    /// The client may send XCLIENT and XFORWARD.
    private let proxyAuthorized: Bool
    /// `true` while a refused BDAT chunk's octets are read and dropped.
    /// Stored: the shell asks it for every slice of a chunk.
    public private(set) var isDroppingChunk = false
    /// An XCLIENT or XFORWARD named the client: ``sessionSnapshot``'s address is no longer the peer's.
    public private(set) var proxiedClient = false
    /// `true` while an AUTH exchange waits for the client's next line: give
    /// that line to ``receiveAuthResponse(_:decider:)``, not to the parser.
    /// Stored, not computed: the shell asks it for every line, and a computed
    /// property of this struct, called from another module, copied all of it.
    public private(set) var awaitingAuthResponse = false
    /// The capabilities offer ENHANCEDSTATUSCODES (stored, like ``maxMessageSize``).
    public private(set) var enhancedStatusCodes = true
    /// Recipients refused but kept for captured mail (`deliver: true`), with their parameters.
    private var keptRecipients: [(ForwardPath, [MailParameter])] = []
    /// Indexes in ``recipients`` accepted but not kept (`deliver: false`).
    private var droppedRecipients: Set<Int> = []
    /// The BDAT chunk being read, and what its end is to answer.
    private enum ChunkStep: Hashable, Sendable {
        /// Taken: `reply` is a rule's own for a chunk other than the last.
        case accepted(size: Int, last: Bool, reply: SMTPReply?, delivery: SMTPDelivery)
        /// Refused: the octets are dropped, then this is the answer.
        case refused(SMTPReply, delivery: SMTPDelivery)
    }
    /// BDAT's and LMTP's state, boxed: a session that uses neither carries one word for it
    /// (the shell's handler holds this machine, and stays within malloc's per-thread cache).
    private final class Extensions: Sendable {
        let chunkedOctets: Int?
        let chunkStep: ChunkStep?
        let lmtpAccepted: [Bool]
        init(chunkedOctets: Int?, chunkStep: ChunkStep?, lmtpAccepted: [Bool]) {
            self.chunkedOctets = chunkedOctets
            self.chunkStep = chunkStep
            self.lmtpAccepted = lmtpAccepted
        }
    }
    private var extensions: Extensions?
    private mutating func update(chunkedOctets: Int?? = .none, chunkStep: ChunkStep?? = .none, lmtpAccepted: [Bool]? = nil) {
        let octets = chunkedOctets ?? self.chunkedOctets
        let step = chunkStep ?? self.chunkStep
        let accepted = lmtpAccepted ?? self.lmtpAccepted
        extensions = octets == nil && step == nil && accepted.isEmpty
            ? nil : Extensions(chunkedOctets: octets, chunkStep: step, lmtpAccepted: accepted)
    }
    /// The octets of the open transaction's BDAT chunks so far; nil: no BDAT in it.
    public var chunkedOctets: Int? {
        get { extensions?.chunkedOctets }
        set { update(chunkedOctets: .some(newValue)) }
    }
    private var chunkStep: ChunkStep? {
        get { extensions?.chunkStep }
        set { update(chunkStep: .some(newValue)) }
    }

    /// `secured`: the connection is encrypted from the start (implicit TLS).
    /// `proxyAuthorized`: the client may send XCLIENT and XFORWARD (`--xclient-from`).
    public init(configuration: SessionConfiguration, clientIP: String?, secured: Bool = false, proxyAuthorized: Bool = false) {
        self.configuration = configuration
        self.snapshot = SessionSnapshot(clientIP: clientIP)
        self.proxyAuthorized = proxyAuthorized
        if secured { snapshot.tls = true }
        offerBase()
    }


    /// The connection is encrypted (implicit TLS, or after STARTTLS).
    public var secured: Bool { snapshot.tls }

    /// Where an AUTH exchange stands: the next line is the client's response, not a command.
    /// Indirect: a session that never authenticates carries one word for it.
    private indirect enum AuthStep: Hashable, Sendable {
        case response(SASLMechanism)
        case loginUser
        case loginPassword(user: String)
        case cram(SASLMechanism, challenge: String)
        /// A token mechanism failed: its JSON error is out; the client's next line gets this reply.
        case oauthFailed(SMTPReply)
    }
    private var authStep: AuthStep? {
        didSet { awaitingAuthResponse = authStep != nil }
    }

    /// Who AUTH said the client is.
    public var authenticatedUser: String? { snapshot.authenticatedUser }
    /// The certificate profile the last EHLO asked for, for a STARTTLS to present; nil: the listener's.
    public private(set) var tlsProfile: String?

    /// What the session offers before the policy's changes: STARTTLS only until TLS is on.
    private var baseCapabilities: SessionCapabilities {
        var base = configuredCapabilities
        if snapshot.tls {
            base.startTLS = false
            base.authMechanisms = configuration.authMechanisms
        }
        return base
    }

    /// Recipients accepted in the open transaction.
    public var recipients: [ForwardPath] { snapshot.recipients }
    /// MAIL FROM's parameters in the open transaction.
    public private(set) var mailParameters: [MailParameter] = []
    /// Each accepted recipient's parameters, by its index in ``recipients``;
    /// empty (not stored at all) while no RCPT has any.
    private var recipientParameters: [[MailParameter]] = []

    /// The recipients captured mail keeps: the accepted ones but those a rule
    /// drops, and the refused ones a rule keeps.
    public var deliveredRecipients: [(ForwardPath, [MailParameter])] {
        var out: [(ForwardPath, [MailParameter])] = []
        for (index, recipient) in snapshot.recipients.enumerated() where !droppedRecipients.contains(index) {
            out.append((recipient, parameters(ofRecipient: index)))
        }
        return out + keptRecipients
    }

    /// The parameters of the recipient at `index` in ``recipients``.
    public func parameters(ofRecipient index: Int) -> [MailParameter] {
        index < recipientParameters.count ? recipientParameters[index] : []
    }
    /// The HELO/EHLO name, once given.
    public var heloName: String? { snapshot.heloName }
    /// The sender of the open transaction.
    public var reversePath: ReversePath? { snapshot.reversePath }
    /// What the policy sees of this session.
    public var sessionSnapshot: SessionSnapshot { snapshot }
    /// `true` between `354` and the end of the message.
    public var isReceivingData: Bool { state == .receivingData }
    /// `true` while a refused BDAT chunk's octets are read and dropped.
    public var isClosed: Bool { state == .closed }

    /// The first reply of the session: the greeting, or what the policy puts in its place.
    /// A reply at connect other than a `421` leaves the session open (as smtp-sink's `-f CONNECT` does).
    public mutating func greeting(decider: inout some SMTPDecider) -> SessionAction {
        finish(decide(.connect, &decider), normal: replies.greeting)
    }

    /// A line that could not be parsed: its error reply, without changing state.
    public mutating func reject(_ error: SMTPParseError) -> SessionAction {
        delivery = SMTPDelivery()
        decided = false
        deliver = nil
        return state == .closed ? .none : .reply(replies.adapt(error.reply))
    }

    /// One parsed command.
    public mutating func receive(_ command: SMTPCommand, decider: inout some SMTPDecider) -> SessionAction {
        delivery = SMTPDelivery()
        decided = false
        deliver = nil
        switch state {
        case .closed:
            return .none
        case .receivingData:
            // The server reads content, not commands, in this state.
            return .reply(replies.sequence(.duringContent, verb: command.verb))
        case .greeted, .ready, .transaction:
            break
        }
        switch command {
        case .helo where configuration.lmtp, .ehlo where configuration.lmtp:
            return .reply(replies.adapt(.lmtpNeedsLHLO))
        case .lhlo where !configuration.lmtp:
            return .reply(replies.adapt(.smtpNeedsEHLO))
        case .lhlo(let domain):
            let decision = decide(.lhlo(domain), &decider)
            guard decision.action.takesEffect else { return finish(decision, normal: .ok) }
            startOver(helo: domain, extended: true)
            offerBase(adjustedBy: decision.adjustments)
            return finish(decision, normal: replies.ehlo(capabilities))
        case .helo(let domain):
            let decision = decide(.helo(domain), &decider)
            guard decision.action.takesEffect else { return finish(decision, normal: .ok) }
            startOver(helo: domain, extended: false)
            offerBase()
            return finish(decision, normal: replies.helo)
        case .ehlo where !configuration.esmtp:
            // An SMTP server of RFC 821's day: EHLO is no command it knows (RFC 5321 §4.1.4).
            return .reply(replies.adapt(.commandUnrecognized))
        case .ehlo(let domain):
            let decision = decide(.ehlo(domain), &decider)
            guard decision.action.takesEffect else { return finish(decision, normal: .ok) }
            startOver(helo: domain, extended: true)
            offerBase(adjustedBy: decision.adjustments)
            tlsProfile = decision.adjustments?.tlsProfile
            return finish(decision, normal: replies.ehlo(capabilities))
        case .mail(let from, let parameters):
            return mail(from: from, parameters: parameters, decider: &decider)
        case .rcpt(let to, let parameters):
            return rcpt(to: to, parameters: parameters, decider: &decider)
        case .data:
            return data(decider: &decider)
        case .rset:
            let decision = decide(.rset, &decider)
            guard decision.action.takesEffect else { return finish(decision, normal: .ok) }
            if state == .transaction { resetTransaction(); state = .ready }
            return finish(decision, normal: replies.ok)
        case .noop:
            return finish(decide(.noop, &decider), normal: replies.ok)
        case .quit:
            // A refused QUIT leaves the session open, as smtp-sink's -f QUIT does
            // (BadSMTP's quit trigger asks for reply-and-close instead).
            let decision = decide(.quit, &decider)
            guard decision.action.takesEffect else { return finish(decision, normal: replies.bye) }
            state = .closed
            if case .proceedWith(let reply) = decision.action { return .replyAndClose(reply) }
            return .replyAndClose(replies.bye)
        case .vrfy(let argument):
            return finish(decide(.vrfy(argument), &decider), normal: replies.vrfy(argument))
        case .help:
            return finish(decide(.help, &decider), normal: replies.help)
        case .startTLS:
            return startTLS(decider: &decider)
        case .auth(let mechanism, let initialResponse):
            return auth(mechanism: mechanism, initialResponse: initialResponse, decider: &decider)
        case .bdat(let size, let last):
            return bdat(size: size, last: last, decider: &decider)
        case .xclient(let attributes):
            return proxy(attributes, xclient: true, decider: &decider)
        case .xforward(let attributes):
            return proxy(attributes, xclient: false, decider: &decider)
        case .notImplemented(let verb):
            let event: SMTPEvent = verb == "EXPN" ? .expn : .unknown(verb: verb)
            return finish(decide(event, &decider), normal: replies.notImplemented(verb: verb))
        }
    }

    /// A line whose verb is not SMTP's: what the policy says, or `500 5.5.2`.
    public mutating func receiveUnknown(_ error: SMTPParseError, decider: inout some SMTPDecider) -> SessionAction {
        delivery = SMTPDelivery()
        decided = false
        deliver = nil
        guard state != .closed else { return .none }
        return finish(decide(.unknown(verb: ""), &decider), normal: replies.adapt(error.reply))
    }

    /// Message content has reached `bytes` octets: the policy may cut it short.
    /// `.none` means go on reading.
    public mutating func receiveContent(bytes: Int, decider: inout some SMTPDecider) -> SessionAction {
        delivery = SMTPDelivery()
        decided = false
        deliver = nil
        guard state == .receivingData else { return .none }
        let decision = decide(.content(bytes: bytes), &decider)
        switch decision.action {
        case .proceed:
            return .none
        case .reply(let reply), .proceedWith(let reply):
            // A reply in the middle of content refuses the message; the rest
            // of it is not read, and the connection is closed (as smtp-sink's -A does).
            state = .closed
            return .replyAndClose(reply)
        default:
            return finish(decision, normal: .ok)
        }
    }

    /// The end of a message: `size` octets of content after dot-unstuffing;
    /// `exceededLimit` when content was dropped for passing the size limit;
    /// `storageFull` when it could not be kept for capture (`452 4.3.1`).
    public mutating func receiveEndOfData(
        size: Int, exceededLimit: Bool, storageFull: Bool = false, queueID: String, message: String? = nil,
        decider: inout some SMTPDecider
    ) -> SessionAction {
        delivery = SMTPDelivery()
        decided = false
        deliver = nil
        guard state == .receivingData else { return .none }
        defer { if state == .receivingData { resetTransaction(); state = .ready } }
        if exceededLimit || size > maxMessageSize {
            return eachRecipient(replies.messageTooBig(limit: maxMessageSize))
        }
        if storageFull { return eachRecipient(replies.adapt(.insufficientStorage)) }
        if configuration.lmtp { return deliverEach(size: size, message: message, queueID: queueID, decider: &decider) }
        return finish(decide(.endOfData(size: size, message: message), &decider), normal: replies.queued(id: queueID))
    }

    /// Closes the session from outside (timeout, shutdown, the peer went away).
    public mutating func close() { state = .closed }

    // MARK: - Commands

    private mutating func decide(_ event: SMTPEvent, _ decider: inout some SMTPDecider) -> SMTPDecision {
        let decision = decider.decide(event, snapshot)
        deliver = nil
        if !decision.isPlain { delivery = decision.delivery; deliver = decision.deliver }
        if case .proceed = decision.action {} else { decided = true }
        return decision
    }

    private mutating func startOver(helo: String, extended: Bool) {
        resetTransaction()
        snapshot.heloName = helo
        snapshot.extended = extended
        state = .ready
    }

    private mutating func resetTransaction() {
        snapshot.reversePath = nil
        snapshot.recipients.removeAll(keepingCapacity: true)
        if !mailParameters.isEmpty { mailParameters.removeAll() }
        if !recipientParameters.isEmpty { recipientParameters.removeAll() }
        if !keptRecipients.isEmpty { keptRecipients.removeAll() }
        if !droppedRecipients.isEmpty { droppedRecipients.removeAll() }
        if extensions?.chunkedOctets != nil { chunkedOctets = nil }
        refusedRecipients = 0
    }

    private mutating func mail(from: ReversePath, parameters: [MailParameter], decider: inout some SMTPDecider) -> SessionAction {
        switch state {
        case .greeted: return .reply(replies.sequence(.beforeHelo, verb: "MAIL"))
        case .transaction: return .reply(replies.sequence(.nestedMail, verb: "MAIL"))
        default: break
        }
        if configuration.requireTLS && !snapshot.tls { return .reply(replies.adapt(.mustStartTLS)) }
        if configuration.requireAuth && snapshot.authenticatedUser == nil { return .reply(replies.adapt(.authRequired)) }
        var declaredUTF8 = false
        for parameter in parameters {
            switch parameter {
            case .size(let declared) where declared > maxMessageSize:
                return .reply(replies.messageTooBig(limit: maxMessageSize))
            case .other(let keyword, _) where !capabilities.accepts(keyword.uppercased(), onMail: true):
                return .reply(replies.adapt(.unsupportedParameter(keyword.uppercased())))
            case .dsn(let keyword, _) where !capabilities.accepts(keyword.rawValue, onMail: true):
                return .reply(replies.adapt(.unsupportedParameter(keyword.rawValue)))
            case .body(.eightBitMIME) where !capabilities.eightBitMIME,
                 .body(.binaryMIME) where !(capabilities.chunking && capabilities.binaryMIME):
                return .reply(replies.adapt(.unsupportedParameter("BODY=\(parameter.valueText)")))
            case .smtpUTF8 where !capabilities.smtpUTF8:
                return .reply(replies.adapt(.unsupportedParameter("SMTPUTF8")))
            case .smtpUTF8:
                declaredUTF8 = true
            default: break
            }
        }
        // A UTF-8 address without SMTPUTF8: refused at once where SMTPUTF8 is
        // offered; where it is not, once the policy has had its say (BadSMTP's
        // `nosmtputf8` answers 501 itself).
        var undeclaredUTF8 = false
        if !declaredUTF8, replies.requiresDeclaredSMTPUTF8, case .mailbox(let mailbox) = from, mailbox.isInternationalized {
            if capabilities.smtpUTF8 { return .reply(.utf8AddressUndeclared) }
            undeclaredUTF8 = true
        }
        let decision = decide(.mail(from, parameters), &decider)
        guard decision.action.takesEffect else { return finish(decision, normal: replies.senderOK) }
        if undeclaredUTF8 { return .reply(.utf8AddressUndeclared) }
        snapshot.reversePath = from
        mailParameters = parameters
        state = .transaction
        return finish(decision, normal: replies.senderOK)
    }

    private mutating func startTLS(decider: inout some SMTPDecider) -> SessionAction {
        if snapshot.tls { return .reply(replies.tlsAlreadyActive) }
        let offered = capabilities.startTLS
        if offered && state == .transaction { return .reply(replies.startTLSInTransaction) }
        // The policy is asked even where STARTTLS is not offered, so a rule's
        // 454 needs no certificate; what it lets through is then refused.
        let decision = decide(.startTLS, &decider)
        // Withheld (not configured, or taken out of this session's EHLO): not offered, so not accepted.
        let normal = offered ? replies.readyToStartTLS : replies.notImplemented(verb: "STARTTLS")
        guard decision.action.takesEffect, offered else { return finish(decision, normal: normal) }
        // RFC 3207 §4.2: the session starts over; the client must EHLO again.
        resetTransaction()
        snapshot.heloName = nil
        snapshot.extended = false
        snapshot.tls = true
        offerBase()
        state = .greeted
        if case .proceedWith(let reply) = decision.action { return .startTLS(reply) }
        return .startTLS(replies.readyToStartTLS)
    }

    // MARK: - AUTH (RFC 4954)

    private mutating func auth(mechanism name: String, initialResponse: String?, decider: inout some SMTPDecider) -> SessionAction {
        guard !capabilities.authMechanisms.isEmpty else {
            // Configured, but not before TLS: say so (RFC 4954 §6); else not offered at all.
            if !configuration.authMechanisms.isEmpty && configuration.authOverTLSOnly && !snapshot.tls {
                return .reply(replies.adapt(.authNeedsTLS))
            }
            return .reply(replies.notImplemented(verb: "AUTH"))
        }
        switch state {
        case .greeted: return .reply(replies.sequence(.beforeHelo, verb: "AUTH"))
        case .transaction: return .reply(replies.adapt(.authInTransaction))
        default: break
        }
        if snapshot.authenticatedUser != nil { return .reply(replies.adapt(.alreadyAuthenticated)) }
        guard let mechanism = SASLMechanism(rawValue: name), capabilities.authMechanisms.contains(mechanism) else {
            return .reply(replies.authMechanismUnknown)
        }
        switch mechanism {
        case .plain, .xoauth2, .oauthBearer:
            if let initialResponse { return authResponse(initialResponse, step: .response(mechanism), decider: &decider) }
            authStep = .response(mechanism)
            return .reply(SMTPReply(code: .authChallenge, ""))
        case .login:
            if let initialResponse { return authResponse(initialResponse, step: .loginUser, decider: &decider) }
            authStep = .loginUser
            return .reply(Self.loginUsername)
        case .cramMD5, .cramSHA256:
            // CRAM's first message is the server's: an initial response is a client error.
            if initialResponse != nil { return .reply(replies.adapt(.authMalformed)) }
            let challenge = decider.saslChallenge(hostname: configuration.hostname)
            authStep = .cram(mechanism, challenge: challenge)
            return .reply(SMTPReply(code: .authChallenge, SASL.encode(challenge)))
        }
    }

    /// The client's line during an AUTH exchange: its next response, `*` to cancel.
    public mutating func receiveAuthResponse(_ line: String, decider: inout some SMTPDecider) -> SessionAction {
        delivery = SMTPDelivery()
        decided = false
        deliver = nil
        guard let step = authStep, state != .closed else { return .none }
        authStep = nil
        return authResponse(line, step: step, decider: &decider)
    }

    private mutating func authResponse(_ line: String, step: AuthStep, decider: inout some SMTPDecider) -> SessionAction {
        if case .oauthFailed(let reply) = step { return .reply(reply) }  // whatever the client said (RFC 7628 §3.2.3)
        if line == "*" { return .reply(replies.adapt(.authCancelled)) }
        guard let bytes = SASL.decode(line) else { return .reply(replies.adapt(.authUndecodable)) }
        let credentials: SASLCredentials?
        switch step {
        case .response(.plain): credentials = SASL.plain(bytes)
        case .response(.xoauth2): credentials = SASL.xoauth2(bytes)
        case .response(.oauthBearer): credentials = SASL.oauthBearer(bytes)
        case .response: credentials = nil
        case .loginUser:
            guard let user = String(validating: bytes, as: UTF8.self), !user.isEmpty else { return .reply(replies.adapt(.authMalformed)) }
            authStep = .loginPassword(user: user)
            return .reply(Self.loginPassword)
        case .loginPassword(let user):
            guard let password = String(validating: bytes, as: UTF8.self) else { return .reply(replies.adapt(.authMalformed)) }
            credentials = SASLCredentials(mechanism: .login, identity: user, secret: .password(password))
        case .cram(let mechanism, let challenge):
            credentials = SASL.cram(bytes, mechanism: mechanism, challenge: challenge)
        case .oauthFailed: credentials = nil
        }
        guard let credentials else { return .reply(replies.adapt(.authMalformed)) }
        let decision = decide(.authenticate(credentials), &decider)
        switch decision.action {
        case .proceed, .proceedWith:
            snapshot.authenticatedUser = credentials.identity
            if case .proceedWith(let reply) = decision.action { return .reply(reply) }
            return .reply(replies.authSucceeded)
        case .reply(let refusal) where credentials.mechanism.isOAuth && !refusal.code.isPositive && !refusal.closesConnection:
            // Google's XOAUTH2 and RFC 7628: the error as a 334 challenge; the 5xx after the client's answer.
            authStep = .oauthFailed(refusal == .authFailed ? replies.authFailed : refusal)
            return .reply(SMTPReply(code: .authChallenge, SASL.encode(SASL.oauthError(credentials.mechanism))))
        case .reply(.authFailed):
            // The credential check's refusal, in the personality's words.
            return .reply(replies.authFailed)
        default:
            return finish(decision, normal: replies.authSucceeded)
        }
    }

    /// LOGIN's prompts: base64 of `Username:` and `Password:`.
    private static let loginUsername = SMTPReply(code: .authChallenge, "VXNlcm5hbWU6")
    private static let loginPassword = SMTPReply(code: .authChallenge, "UGFzc3dvcmQ6")

    private mutating func rcpt(to: ForwardPath, parameters: [MailParameter], decider: inout some SMTPDecider) -> SessionAction {
        switch state {
        case .greeted: return .reply(replies.sequence(.beforeHelo, verb: "RCPT"))
        case .ready: return .reply(replies.sequence(.beforeMail, verb: "RCPT"))
        default: break
        }
        guard snapshot.recipients.count < configuration.maxRecipients else {
            refusedRecipients += 1
            return .reply(replies.adapt(.tooManyRecipients))
        }
        for parameter in parameters {
            switch parameter {
            case .other, .dsn:
                guard capabilities.accepts(parameter.keyword, onMail: false) else {
                    return .reply(replies.adapt(.unsupportedParameter(parameter.keyword)))
                }
            default:
                // SIZE, BODY and SMTPUTF8 belong to MAIL.
                return .reply(replies.adapt(.unsupportedParameter(parameter.keyword)))
            }
        }
        var undeclaredUTF8 = false
        if replies.requiresDeclaredSMTPUTF8, case .mailbox(let mailbox) = to, mailbox.isInternationalized,
           !mailParameters.contains(.smtpUTF8) {
            if capabilities.smtpUTF8 { return .reply(.utf8AddressUndeclared) }
            undeclaredUTF8 = true
        }
        let decision = decide(.rcpt(to, parameters), &decider)
        if undeclaredUTF8 && decision.action.takesEffect {
            refusedRecipients += 1
            return .reply(.utf8AddressUndeclared)
        }
        let action = finish(decision, normal: replies.recipientOK)
        if decision.action.takesEffect, case .reply(let reply) = action, reply.code.isPositive {
            snapshot.recipients.append(to)
            if !parameters.isEmpty {
                while recipientParameters.count < snapshot.recipients.count - 1 { recipientParameters.append([]) }
                recipientParameters.append(parameters)
            }
            if deliver == false { droppedRecipients.insert(snapshot.recipients.count - 1) }
        } else {
            refusedRecipients += 1
            if deliver == true { keptRecipients.append((to, parameters)) }
        }
        return action
    }

    private mutating func data(decider: inout some SMTPDecider) -> SessionAction {
        switch state {
        case .greeted: return .reply(replies.sequence(.beforeHelo, verb: "DATA"))
        case .ready: return .reply(replies.sequence(.beforeMail, verb: "DATA"))
        default: break
        }
        guard !snapshot.recipients.isEmpty else {
            return .reply(replies.sequence(refusedRecipients > 0 ? .noValidRecipients : .beforeRecipient, verb: "DATA"))
        }
        // RFC 3030 §2, §3: one transaction is sent one way; binary content only in chunks.
        if chunkedOctets != nil { return .reply(replies.adapt(.dataAfterBDAT)) }
        if mailParameters.contains(.body(.binaryMIME)) { return .reply(replies.adapt(.binaryNeedsBDAT)) }
        let decision = decide(.data, &decider)
        guard decision.action.takesEffect else { return finish(decision, normal: .ok) }
        state = .receivingData
        if case .proceedWith(let reply) = decision.action { return .startData(reply) }
        return .startData(replies.startMailInput)
    }

    // MARK: - XCLIENT and XFORWARD (Postfix's)

    /// The attributes take the session's place for the policy (greylisting, rules by
    /// `client_ip`, captured mail); XCLIENT then greets again and wants a new EHLO.
    private mutating func proxy(_ attributes: [ProxyAttribute], xclient: Bool, decider: inout some SMTPDecider) -> SessionAction {
        let verb = xclient ? "XCLIENT" : "XFORWARD"
        guard xclient ? configuration.xclient : configuration.xforward else { return .reply(replies.notImplemented(verb: verb)) }
        guard proxyAuthorized else { return .reply(replies.adapt(.proxyNotAuthorized)) }
        if state == .transaction { return .reply(replies.adapt(.proxyInTransaction)) }
        let decision = decide(xclient ? .xclient(attributes) : .xforward(attributes), &decider)
        let normal = xclient ? replies.greeting : replies.ok
        guard decision.action.takesEffect else { return finish(decision, normal: normal) }
        for attribute in attributes {
            switch attribute.name {
            case "ADDR": snapshot.clientIP = attribute.value
            case "HELO": snapshot.heloName = attribute.value
            case "PROTO": snapshot.extended = attribute.value?.uppercased() == "ESMTP"
            case "LOGIN": snapshot.authenticatedUser = attribute.value
            default: break
            }
        }
        if attributes.contains(where: { $0.name == "ADDR" || $0.name == "PORT" }) { proxiedClient = true }
        if xclient {
            // Postfix's XCLIENT: as if the client had just connected (the HELO name stays as given).
            resetTransaction()
            state = .greeted
            offerBase()
        }
        return finish(decision, normal: normal)
    }


    // MARK: - BDAT (RFC 3030)

    /// `BDAT size [LAST]`. Whatever the answer, the chunk's octets follow the
    /// line and are read: refused, they are dropped, so they are never taken
    /// for commands. The answer goes once they are in.
    private mutating func bdat(size: Int, last: Bool, decider: inout some SMTPDecider) -> SessionAction {
        let refusal: SMTPReply?
        if !capabilities.chunking && !replies.takesUnofferedBDAT {
            refusal = replies.notImplemented(verb: "BDAT")
        } else {
            switch state {
            case .greeted: refusal = replies.sequence(.beforeHelo, verb: "BDAT")
            case .ready: refusal = replies.sequence(.beforeMail, verb: "BDAT")
            case .transaction where snapshot.recipients.isEmpty:
                refusal = replies.sequence(refusedRecipients > 0 ? .noValidRecipients : .beforeRecipient, verb: "BDAT")
            default: refusal = nil
            }
        }
        if let refusal { return refuseChunk(size: size, last: last, refusal) }
        let first = chunkedOctets == nil
        let before = chunkedOctets ?? 0
        if size > maxMessageSize - before {
            // Read and dropped, then 552; the transaction is over (RFC 3030 §4.2).
            resetTransaction()
            state = .ready
            return refuseChunk(size: size, last: last, replies.messageTooBig(limit: maxMessageSize))
        }
        let decision = decide(.bdat(size: size, last: last), &decider)
        switch decision.action {
        case .proceed, .proceedWith:
            var override: SMTPReply?
            if case .proceedWith(let reply) = decision.action {
                if reply.closesConnection { return finish(decision, normal: replies.ok) }
                override = reply
            }
            chunkStep = .accepted(size: size, last: last, reply: override, delivery: delivery)
            // The reply goes after the chunk, and waits then: the chunk is read at once.
            delivery = SMTPDelivery()
            chunkedOctets = before + size
            state = .receivingData
            return .receiveChunk(BDATChunk(size: size, last: last, starts: first, keep: true))
        case .reply(let reply) where !reply.closesConnection:
            // A refused chunk fails the transaction: nothing of it is kept.
            resetTransaction()
            state = .ready
            return refuseChunk(size: size, last: last, reply, delivery: delivery)
        default:
            return finish(decision, normal: replies.ok)
        }
    }

    private mutating func refuseChunk(size: Int, last: Bool, _ reply: SMTPReply,
                                      delivery: SMTPDelivery = .immediate) -> SessionAction {
        chunkStep = .refused(reply, delivery: delivery)
        self.delivery = SMTPDelivery()
        isDroppingChunk = true
        return .receiveChunk(BDATChunk(size: size, last: last, starts: false, keep: false))
    }

    /// The octets of the chunk ``SessionAction/receiveChunk(_:)`` asked for are in:
    /// `250` for a chunk taken, the message's answer after the last, or the refusal.
    /// `exceededLimit` and `storageFull` as for ``receiveEndOfData(size:exceededLimit:storageFull:queueID:message:decider:)``.
    public mutating func receiveEndOfChunk(
        exceededLimit: Bool, storageFull: Bool = false, queueID: String, message: String? = nil,
        decider: inout some SMTPDecider
    ) -> SessionAction {
        delivery = SMTPDelivery()
        decided = false
        deliver = nil
        guard let step = chunkStep, state != .closed else { return .none }
        chunkStep = nil
        isDroppingChunk = false
        switch step {
        case .refused(let reply, let delivery):
            self.delivery = delivery
            return .reply(reply)
        case .accepted(let size, let last, let reply, let delivery):
            let total = chunkedOctets ?? size
            if exceededLimit || total > maxMessageSize {
                resetTransaction()
                state = .ready
                return .reply(replies.messageTooBig(limit: maxMessageSize))
            }
            guard last else {
                state = .transaction
                self.delivery = delivery
                if reply != nil { decided = true }
                return .reply(reply ?? replies.chunkReceived(octets: size))
            }
            defer { if state == .receivingData { resetTransaction(); state = .ready } }
            if storageFull { return eachRecipient(replies.adapt(.insufficientStorage)) }
            if configuration.lmtp { return deliverEach(size: total, message: message, queueID: queueID, decider: &decider) }
            let action = finish(decide(.endOfData(size: total, message: message), &decider), normal: replies.queued(id: queueID))
            if self.delivery.isImmediate { self.delivery = delivery }
            return action
        }
    }

    // MARK: - LMTP (RFC 2033)

    /// The same reply for every recipient in LMTP; the one reply in SMTP.
    private func eachRecipient(_ reply: SMTPReply) -> SessionAction {
        configuration.lmtp ? .replies(Array(repeating: reply, count: max(1, snapshot.recipients.count))) : .reply(reply)
    }

    /// LMTP's end of data: the policy is asked once per accepted recipient
    /// (``SessionSnapshot/deliveringTo`` names it), each answer a reply of its own.
    /// A decision with no reply (a disconnect, a reset, a hang) ends them all.
    private mutating func deliverEach(size: Int, message: String?, queueID: String, decider: inout some SMTPDecider) -> SessionAction {
        var out: [SMTPReply] = []
        var firstDelivery: SMTPDelivery?
        var anyDecided = false
        var accepted: [Bool] = []
        for (index, recipient) in snapshot.recipients.enumerated() {
            snapshot.deliveringTo = index
            let decision = decide(.endOfData(size: size, message: message), &decider)
            if decided { anyDecided = true }
            if firstDelivery == nil, !delivery.isImmediate { firstDelivery = delivery }
            let reply: SMTPReply
            switch decision.action {
            case .proceed:
                reply = replies.delivered(to: recipient, id: queueID)
            case .proceedWith(let given), .reply(let given), .replyAndClose(let given):
                reply = given
            default:
                snapshot.deliveringTo = nil
                return finish(decision, normal: .ok)
            }
            out.append(reply)
            accepted.append(reply.code.isPositive && deliver != false || deliver == true)
            if reply.closesConnection || decision.action == .replyAndClose(reply) {
                state = .closed
                break
            }
        }
        snapshot.deliveringTo = nil
        update(lmtpAccepted: accepted)
        decided = anyDecided
        delivery = firstDelivery ?? SMTPDelivery()
        deliver = nil
        return .replies(out)
    }

    /// After LMTP's end of data: for each accepted recipient, in order, whether captured mail keeps it.
    public var lmtpAccepted: [Bool] { extensions?.lmtpAccepted ?? [] }

    /// Turns a decision into an action: the normal reply, or the policy's,
    /// with a `421` closing the session.
    private mutating func finish(_ decision: SMTPDecision, normal: SMTPReply) -> SessionAction {
        switch decision.action {
        case .proceed:
            return .reply(normal)
        case .proceedWith(let reply) where reply.closesConnection:
            state = .closed
            return .replyAndClose(reply)
        case .proceedWith(let reply):
            return .reply(reply)
        case .reply(let reply) where reply.closesConnection, .replyAndClose(let reply):
            state = .closed
            return .replyAndClose(reply)
        case .reply(let reply):
            return .reply(reply)
        case .disconnect:
            state = .closed
            return .disconnect
        case .reset:
            state = .closed
            return .reset
        case .hang:
            state = .closed
            return .hang
        case .breakTLS(let reply, let how):
            state = .closed
            return .breakTLS(reply ?? replies.readyToStartTLS, how)
        }
    }
}
