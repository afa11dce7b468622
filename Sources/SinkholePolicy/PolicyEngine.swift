import SMTPProtocol

/// Everything the policy needs that outlives one session.
public struct PolicyConfiguration: Sendable {
    public var replies: ModeReplies
    public var greylist: GreylistTable
    /// The rules of `rules:`, `--rules` and smtp-sink's switches, in that order.
    public var rules: RuleBook
    /// BadSMTP's client triggers (`--client-triggers`).
    public var clientTriggers: Bool
    /// smtp-sink's `-r`/`-f` also withdraw PIPELINING from the EHLO reply.
    public var withdrawPipelining: Bool
    /// The clock greylist entries and rule lifetimes are stamped with; tests pass a manual one.
    public var now: @Sendable () -> ContinuousClock.Instant
    /// Where random delays come from; tests pass a seeded one.
    public var random: any RandomSource

    public init(
        replies: ModeReplies = ModeReplies(),
        greylist: GreylistTable = GreylistTable(),
        rules: RuleBook = RuleBook(rules: []),
        clientTriggers: Bool = true,
        withdrawPipelining: Bool = false,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        random: any RandomSource = SystemRandomSource()
    ) {
        self.replies = replies
        self.greylist = greylist
        self.rules = rules
        self.clientTriggers = clientTriggers
        self.withdrawPipelining = withdrawPipelining
        self.now = now
        self.random = random
    }
}

/// The layer that chose a reply, first match wins: rules, then the client's
/// triggers, then the listener's profile, then the mode. (Syntax and
/// sequence errors come before all of them, from the state machine.)
public enum DecisionLayer: String, Hashable, Sendable, CaseIterable {
    case rule
    case trigger
    case profile
    case mode
    case greylist
}

/// A decision other than the normal reply, for logs and metrics.
public struct DecisionRecord: Hashable, Sendable {
    public var layer: DecisionLayer
    public var event: String
    /// The rule's id, or the trigger's verb.
    public var source: String?
    /// `reply`, `close`, `disconnect`, `reset`, `hang`, `delay`.
    public var action: String
}

/// The decider for one session: the engine's layers over the mode the
/// session started with.
public struct SessionPolicy: SMTPDecider, Sendable {
    public let mode: Mode
    private let configuration: PolicyConfiguration
    private let profile: ListenerProfile?

    // Client triggers armed by MAIL FROM (BadSMTP's lifetimes).
    private var armed = ArmedTriggers()
    private var sessionDelay: Duration?
    private var triggerEnhanced = false
    private var triggerSMTPUTF8Off = false

    private var greylisted: GreylistVerdict?
    /// The greylist's verdict for this session's last attempt, for the connection log.
    public private(set) var greylistVerdict: GreylistVerdict?

    /// The last decision that was not the normal reply.
    public private(set) var lastRecord: DecisionRecord?
    /// Decisions since ``takeRecords()``, for metrics (only non-normal ones).
    private var records: [DecisionRecord] = []

    public init(mode: Mode, configuration: PolicyConfiguration, profile: ListenerProfile? = nil) {
        self.mode = profile?.mode ?? mode
        self.configuration = configuration
        self.profile = profile
    }

    /// Which layer decided the last refusal, for the connection log.
    public var lastDecision: String? { lastRecord?.layer.rawValue }

    public var contentThreshold: Int? {
        [configuration.rules.contentThreshold, profile?.rules?.contentThreshold].compactMap { $0 }.min()
    }

    public var wantsMessage: Bool { configuration.rules.readsMessage || profile?.rules?.readsMessage == true }

    /// The records gathered since the last call, emptied.
    public mutating func takeRecords() -> [DecisionRecord] {
        guard !records.isEmpty else { return [] }
        defer { records.removeAll(keepingCapacity: true) }
        return records
    }

    public mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        var decision = decideLayers(event, session)
        // Session-wide delays (a listener's command delay, BadSMTP's dlay<N>)
        // hold every reply that has no delay of its own.
        if decision.delivery.delay == nil, let delay = standingDelay(event) {
            decision.delivery.delay = delay
        }
        return decision
    }

    private func standingDelay(_ event: SMTPEvent) -> Duration? {
        switch event {
        case .connect: return profile?.greetingDelay
        case .content: return nil
        default:
            return sessionDelay ?? profile?.commandDelay
        }
    }

    private mutating func decideLayers(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        var heldDelay: RuleDelay?
        // 1. Rules: the listener's, then the global ones.
        if let match = matchRules(event, session) {
            switch match.step {
            case .respond(let response):
                return record(.rule, event, match.ruleID, decision(for: response))
            case .pass:
                break
            case .delayOnly(let delay):
                heldDelay = delay
            }
        }
        var decision = decideBelowRules(event, session)
        if let heldDelay {
            decision.delivery.delay = sample(heldDelay)
            note(.rule, event, nil, "delay")
        }
        return decision
    }

    private mutating func decideBelowRules(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        // 2. Client triggers.
        if configuration.clientTriggers, let decision = triggerDecision(event, session) {
            return decision
        }
        // 3. The listener's profile.
        if case .connect = event, let drop = profile?.dropAfter {
            return record(.profile, event, profile?.name, SMTPDecision(.disconnect, delivery: SMTPDelivery(delay: drop)))
        }
        // 4. The mode.
        if case .rcpt(let path) = event { return modeDecision(path, session) }
        if case .ehlo = event, configuration.withdrawPipelining {
            return SMTPDecision(.proceed, adjustments: CapabilityAdjustments(pipelining: false))
        }
        return .proceed
    }

    private func matchRules(_ event: SMTPEvent, _ session: SessionSnapshot) -> RuleMatch? {
        let command = RuleCommand(event)
        let global = configuration.rules
        let local = profile?.rules
        guard global.commands.contains(command) || local?.commands.contains(command) == true else { return nil }
        let input = RuleInput(event: event, session: session, listener: profile?.name ?? "")
        return local?.match(input) ?? global.match(input)
    }

    // MARK: - Rules

    private func decision(for response: RuleResponse) -> SMTPDecision {
        let delivery = SMTPDelivery(delay: response.delay.map(sample), bytesPerSecond: response.bytesPerSecond,
                                    pieceSize: response.pieceSize)
        let action: SMTPDecisionAction
        switch response.action {
        case .reply: action = .reply(response.reply ?? .ok)
        case .replyAndClose: action = .replyAndClose(response.reply ?? .ok)
        case .disconnect: action = .disconnect
        case .reset: action = .reset
        case .hang: action = .hang
        }
        return SMTPDecision(action, delivery: delivery)
    }

    private func sample(_ delay: RuleDelay) -> Duration {
        switch delay {
        case .fixed(let duration):
            return duration
        case .uniform(let min, let max):
            let span = Double((max - min).components.seconds) + Double((max - min).components.attoseconds) / 1e18
            return min + .milliseconds(Int64(span * configuration.random.nextUnit() * 1000))
        case .dice(let unit, let odds):
            // smtp-sink: as many times the delay as rolls of a 0..99 die came
            // below `odds` before the first that did not (so possibly none).
            var rolls = 0
            while Int(configuration.random.nextUnit() * 100) < odds && rolls < 1000 { rolls += 1 }
            return unit * rolls
        }
    }

    // MARK: - Client triggers

    private struct ArmedTriggers: Sendable {
        var data: ClientTriggers.AddressTrigger?
        var rset: ClientTriggers.AddressTrigger?
        var noop: ClientTriggers.AddressTrigger?
        var quit: ClientTriggers.AddressTrigger?
    }

    private mutating func triggerDecision(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision? {
        switch event {
        case .helo(let name), .ehlo(let name):
            if let code = ClientTriggers.heloCode(name),
               let reply = ClientTriggers.reply(code: code, enhanced: nil, enhancedOn: false) {
                return record(.trigger, event, "helo", .reply(reply))
            }
            guard case .ehlo = event else {
                triggerEnhanced = false
                triggerSMTPUTF8Off = false
                return nil
            }
            let keywords = ClientTriggers.ehloKeywords(name)
            triggerEnhanced = !keywords.noEnhancedStatusCodes
            triggerSMTPUTF8Off = keywords.noSMTPUTF8
            if keywords.isEmpty { return nil }
            if keywords.reject {
                return record(.trigger, event, "reject", .reply(SMTPReply(code: .notImplemented, ClientTriggers.text(for: 502))))
            }
            if let delay = keywords.delay { sessionDelay = delay }
            var adjustments = CapabilityAdjustments()
            if keywords.noPipelining || configuration.withdrawPipelining { adjustments.pipelining = false }
            if keywords.no8BitMIME { adjustments.eightBitMIME = false }
            if keywords.noSize { adjustments.advertiseSize = false }
            if let size = keywords.size { adjustments.maxMessageSize = max(1000, size); adjustments.advertiseSize = true }
            if keywords.noEnhancedStatusCodes { adjustments.enhancedStatusCodes = false }
            if keywords.noSMTPUTF8 { adjustments.smtpUTF8 = false }
            note(.trigger, event, "ehlo-keywords", "capabilities")
            return SMTPDecision(.proceed, adjustments: adjustments)
        case .mail(let path, _):
            guard case .mailbox(let mailbox) = path else { return nil }
            if triggerSMTPUTF8Off, let refusal = utf8Refusal(mailbox, event) { return refusal }
            let trigger = ClientTriggers.parse(address: mailbox.description)
            if let trigger, trigger.verb == "mail" {
                return fire(trigger, event)
            }
            // An accepted MAIL arms (or clears) the later verbs' triggers.
            armed = ArmedTriggers()
            if let trigger {
                switch trigger.verb {
                case "data": armed.data = trigger
                case "rset": armed.rset = trigger
                case "noop": armed.noop = trigger
                case "quit": armed.quit = trigger
                default: break
                }
            }
            return nil
        case .rcpt(let path):
            guard case .mailbox(let mailbox) = path else { return nil }
            if triggerSMTPUTF8Off, let refusal = utf8Refusal(mailbox, event) { return refusal }
            guard let trigger = ClientTriggers.parse(address: mailbox.description), trigger.verb == "rcpt" else { return nil }
            return fire(trigger, event)
        case .data:
            return armed.data.flatMap { fire($0, event) }
        case .rset:
            return armed.rset.flatMap { fire($0, event) }
        case .noop:
            return armed.noop.flatMap { fire($0, event) }
        case .quit:
            return armed.quit.flatMap { fire($0, event) }
        case .endOfData:
            // A completed message clears what its MAIL armed.
            armed = ArmedTriggers()
            return nil
        case .vrfy(let argument):
            guard let reply = ClientTriggers.vrfyReply(argument) else { return nil }
            return record(.trigger, event, "vrfy", .reply(reply))
        default:
            return nil
        }
    }

    private mutating func fire(_ trigger: ClientTriggers.AddressTrigger, _ event: SMTPEvent) -> SMTPDecision? {
        let delivery = SMTPDelivery(delay: trigger.delay)
        if trigger.drop { return record(.trigger, event, trigger.verb, SMTPDecision(.disconnect, delivery: delivery)) }
        guard let code = trigger.code else {
            // del<N> alone: the normal reply, late.
            note(.trigger, event, trigger.verb, "delay")
            return SMTPDecision(.proceed, delivery: delivery)
        }
        guard let reply = ClientTriggers.reply(code: code, enhanced: trigger.enhanced, enhancedOn: triggerEnhanced) else {
            return nil
        }
        // BadSMTP closes after a triggered QUIT reply whatever its code.
        if case .quit = event { return record(.trigger, event, trigger.verb, SMTPDecision(.replyAndClose(reply), delivery: delivery)) }
        return record(.trigger, event, trigger.verb, SMTPDecision(.reply(reply), delivery: delivery))
    }

    private mutating func utf8Refusal(_ mailbox: Mailbox, _ event: SMTPEvent) -> SMTPDecision? {
        guard mailbox.localPart.utf8.contains(where: { $0 >= 0x80 }) else { return nil }
        return record(.trigger, event, "nosmtputf8", .reply(SMTPReply(code: .parameterSyntaxError, "Syntax error in parameters")))
    }

    // MARK: - The mode

    private mutating func modeDecision(_ path: ForwardPath, _ session: SessionSnapshot) -> SMTPDecision {
        let event = SMTPEvent.rcpt(path)
        switch mode {
        case .defer:
            return record(.mode, event, nil, .reply(configuration.replies.deferReply))
        case .bounce:
            return record(.mode, event, nil, .reply(configuration.replies.bounceReply))
        case .accept, .acceptLog:
            return acceptDecision
        case .greylist:
            let greylist = configuration.greylist
            let settings = greylist.settings
            let recipient = path.bareAddress
            let verdict: GreylistVerdict
            var left = 0
            if settings.key != .triplet, let seen = greylisted {
                // Keyed by client: one verdict for the whole session.
                verdict = seen
            } else {
                (verdict, left) = greylist.check(clientIP: session.clientIP ?? "unknown",
                                                 sender: session.reversePath?.bareAddress ?? "",
                                                 recipient: recipient, now: configuration.now())
                greylisted = verdict
            }
            greylistVerdict = verdict
            guard verdict.defers else { return acceptDecision }
            let reply = settings.reply(recipient: recipient, secondsLeft: left)
            let action: SMTPDecisionAction = settings.answer == .close ? .replyAndClose(reply) : .reply(reply)
            return record(.greylist, event, verdict.rawValue, SMTPDecision(action))
        }
    }

    private var acceptDecision: SMTPDecision {
        configuration.replies.acceptReply == .recipientOK ? .proceed : SMTPDecision(.proceedWith(configuration.replies.acceptReply))
    }

    // MARK: - Records

    private mutating func record(_ layer: DecisionLayer, _ event: SMTPEvent, _ source: String?, _ decision: SMTPDecision) -> SMTPDecision {
        let action: String = switch decision.action {
        case .proceed, .proceedWith: decision.delivery.delay != nil ? "delay" : "reply"
        case .reply(let reply): reply.closesConnection ? "close" : "reply"
        case .replyAndClose: "close"
        case .disconnect: "disconnect"
        case .reset: "reset"
        case .hang: "hang"
        }
        note(layer, event, source, action)
        return decision
    }

    private mutating func note(_ layer: DecisionLayer, _ event: SMTPEvent, _ source: String?, _ action: String) {
        let entry = DecisionRecord(layer: layer, event: event.name, source: source, action: action)
        lastRecord = entry
        if records.count < 64 { records.append(entry) }
    }
}
