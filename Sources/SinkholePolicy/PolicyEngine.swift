import SMTPProtocol

/// Everything the policy needs that outlives one session.
public struct PolicyConfiguration: Sendable {
    public var replies: ModeReplies {
        didSet { acceptsWithDefault = replies.acceptReply == .recipientOK }
    }
    /// The accept reply is the normal one: RCPT proceeds without a reply to carry.
    private(set) var acceptsWithDefault: Bool
    public var greylist: GreylistTable
    /// The rules of `rules:`, `--rules` and smtp-sink's switches, in that order.
    public var rules: RuleBook
    /// What the HTTP API sets while sinkhole runs (its own rules, James's
    /// behaviours and extensions, Mailpit's chaos), checked before `rules`.
    public var runtime: RuntimeRules
    /// BadSMTP's client triggers (`--client-triggers`).
    public var clientTriggers: Bool
    /// smtp-sink's `-r`/`-f` also withdraw PIPELINING from the EHLO reply.
    public var withdrawPipelining: Bool
    /// The clock greylist entries and rule lifetimes are stamped with; tests pass a manual one.
    public var now: @Sendable () -> ContinuousClock.Instant
    /// Where random delays come from; tests pass a seeded one.
    public var random: any RandomSource
    /// Whether AUTH's credentials are good, after rules and triggers.
    public var credentials: any CredentialChecker

    public init(
        replies: ModeReplies = ModeReplies(),
        greylist: GreylistTable = GreylistTable(),
        rules: RuleBook = RuleBook(rules: []),
        runtime: RuntimeRules? = nil,
        clientTriggers: Bool = true,
        withdrawPipelining: Bool = false,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        random: any RandomSource = SystemRandomSource(),
        credentials: any CredentialChecker = BadSMTPCredentials()
    ) {
        self.credentials = credentials
        self.replies = replies
        self.acceptsWithDefault = replies.acceptReply == .recipientOK
        self.greylist = greylist
        self.rules = rules
        self.runtime = runtime ?? (try! RuntimeRules())
        self.clientTriggers = clientTriggers
        self.withdrawPipelining = withdrawPipelining
        self.now = now
        self.random = random
    }
}

/// The configuration and the listener's profile, shared by every session of
/// a listener, with what sessions ask of them on every command worked out once.
public final class PolicyContext: Sendable {
    public let configuration: PolicyConfiguration
    public let profile: ListenerProfile?
    /// The commands any rule (global or this listener's) answers.
    let ruleMask: UInt32
    /// The listener delays or drops.
    let profileActive: Bool
    let contentThreshold: Int?
    let wantsMessage: Bool

    public init(configuration: PolicyConfiguration, profile: ListenerProfile? = nil) {
        self.configuration = configuration
        self.profile = profile
        ruleMask = configuration.rules.commandMask | (profile?.rules?.commandMask ?? 0)
        profileActive = profile.map { $0.greetingDelay != nil || $0.dropAfter != nil || $0.commandDelay != nil } ?? false
        contentThreshold = [configuration.rules.contentThreshold, profile?.rules?.contentThreshold].compactMap { $0 }.min()
        wantsMessage = configuration.rules.readsMessage || profile?.rules?.readsMessage == true
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
    /// The credential check of AUTH (BadSMTP's rule, or `--auth-users`).
    case credentials
}

/// A decision other than the normal reply, for logs and metrics.
public struct DecisionRecord: Hashable, Sendable {
    public enum Action: String, Hashable, Sendable {
        case reply, close, disconnect, reset, hang, delay, slow, capabilities
        /// Let through: a greylist pass, a rule's accept.
        case pass

        /// A fault injected (as the metrics count them), not just another reply.
        public var isFault: Bool { self != .reply && self != .capabilities && self != .pass }
    }

    public var layer: DecisionLayer
    public var command: RuleCommand
    /// The rule's id, or the trigger's verb.
    public var source: String?
    public var action: Action
    /// The reply also came late (a rule's or trigger's own delay).
    public var delayed: Bool = false

    /// The command's name: `MAIL`, `.`, `CONTENT`.
    public var event: String { command.rawValue }
}

/// The decider for one session: the engine's layers over the mode the
/// session started with.
public struct SessionPolicy: SMTPDecider, Sendable {
    // (The words first, then the bytes, the Duration last: every session handler holds
    // one of these, and this order leaves 15 bytes less padding.)

    /// What every session of its listener shares: one reference to copy per
    /// session instead of the whole context.configuration.
    private let context: PolicyContext

    // The client trigger armed by MAIL FROM (BadSMTP's lifetimes): one at a
    // time, since an address names one verb and each accepted MAIL replaces
    // it. Boxed, so a session that arms nothing carries one word for it.
    private var armed: Armed?

    /// Decisions since ``clearRecords()``, for metrics: those other than the
    /// normal reply, greylist passes and standing delays.
    public internal(set) var records: [DecisionRecord] = []
    /// The last decision that was not the normal reply.
    public private(set) var lastRecord: DecisionRecord?

    public let mode: Mode
    private var triggerEnhanced = false
    private var triggerSMTPUTF8Off = false
    private var greylisted: GreylistVerdict?
    /// The greylist's verdict for this session's last attempt, for the connection log.
    public private(set) var greylistVerdict: GreylistVerdict?

    private var sessionDelay: Duration?

    /// Whether ``records`` has anything (inlined: asked after every command).
    @inlinable public var hasRecords: Bool { !records.isEmpty }

    public init(mode: Mode, context: PolicyContext) {
        self.mode = context.profile?.mode ?? mode
        self.context = context
    }

    /// For tests and one-off sessions: a context made for this session alone.
    public init(mode: Mode, configuration: PolicyConfiguration, profile: ListenerProfile? = nil) {
        self.init(mode: mode, context: PolicyContext(configuration: configuration, profile: profile))
    }

    /// Read once when a session starts (the API's rules may change later).
    public var contentThreshold: Int? {
        // The lesser of the two, without the two arrays a compactMap made for every session.
        switch (context.contentThreshold, context.configuration.runtime.contentThreshold) {
        case let (listener?, runtime?): return min(listener, runtime)
        case let (listener, runtime): return listener ?? runtime
        }
    }

    public var wantsMessage: Bool { context.wantsMessage || context.configuration.runtime.readsMessage }

    /// Empties the records, keeping their storage (read them from ``records`` first).
    public mutating func clearRecords() { records.removeAll(keepingCapacity: true) }

    public mutating func decide(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        guard case .ehlo = event, let extra = context.configuration.runtime.extensions else {
            return decideEvent(event, session)
        }
        // The API's extra EHLO keywords (James's /smtpExtensions), whatever decided the EHLO.
        var decision = decideEvent(event, session)
        var adjustments = decision.adjustments ?? CapabilityAdjustments()
        adjustments.extra = (adjustments.extra ?? []) + extra
        decision.adjustments = adjustments
        return decision
    }

    private mutating func decideEvent(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        // The common case, with no rule for this command, no listener profile
        // and no standing delay: triggers, then the mode, with nothing else looked at.
        let ruleMask = context.ruleMask | context.configuration.runtime.mask
        if (ruleMask == 0 || ruleMask & RuleCommand(event).bit == 0) && !context.profileActive && sessionDelay == nil {
            if context.configuration.clientTriggers, mayTrigger(event), let decision = triggerDecision(event, session) {
                guard let delay = sessionDelay, decision.delivery.delay == nil else { return decision }
                // dlay<N> set by this EHLO holds its own reply too.
                var delayed = decision
                delayed.delivery.delay = delay
                count(.trigger, event, "dlay", .delay)
                return delayed
            }
            switch event {
            case .rcpt(let path, _): return modeDecision(event, path, session)
            case .authenticate(let credentials): return check(credentials, event)
            case .ehlo where context.configuration.withdrawPipelining:
                return SMTPDecision(.proceed, adjustments: CapabilityAdjustments(pipelining: false))
            default: return .proceed
            }
        }
        var decision = decideLayers(event, session)
        // Session-wide delays (a listener's command delay, BadSMTP's dlay<N>)
        // hold every reply that has no delay of its own.
        if decision.delivery.delay == nil, let delay = standingDelay(event) {
            decision.delivery.delay = delay
            if sessionDelay != nil, event != .connect {
                count(.trigger, event, "dlay", .delay)
            } else {
                count(.profile, event, context.profile?.name, .delay)
            }
        }
        return decision
    }

    private func standingDelay(_ event: SMTPEvent) -> Duration? {
        switch event {
        case .connect: return context.profile?.greetingDelay
        case .content: return nil
        default:
            return sessionDelay ?? context.profile?.commandDelay
        }
    }

    private mutating func decideLayers(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        // 1. Rules: the listener's, then the global ones.
        guard let match = matchRules(event, session) else { return decideBelowRules(event, session) }
        switch match.step {
        case .respond(let response):
            return record(.rule, event, match.ruleID, decision(for: response))
        case .pass:
            return decideBelowRules(event, session)
        case .delayOnly(let delay):
            var decision = decideBelowRules(event, session)
            decision.delivery.delay = sample(delay)
            note(.rule, event, match.ruleID, .delay)
            return decision
        case .slow(let delay, let bytesPerSecond, let pieceSize):
            var decision = decideBelowRules(event, session)
            if let delay { decision.delivery.delay = sample(delay) }
            decision.delivery.bytesPerSecond = bytesPerSecond
            decision.delivery.pieceSize = pieceSize
            note(.rule, event, match.ruleID, delay != nil ? .delay : .slow)
            return decision
        }
    }

    private mutating func decideBelowRules(_ event: SMTPEvent, _ session: SessionSnapshot) -> SMTPDecision {
        // 2. Client triggers.
        if context.configuration.clientTriggers, let decision = triggerDecision(event, session) {
            return decision
        }
        // 3. The listener's profile.
        if case .connect = event, let drop = context.profile?.dropAfter {
            return record(.profile, event, context.profile?.name, SMTPDecision(.disconnect, delivery: SMTPDelivery(delay: drop)))
        }
        // 4. The mode; for AUTH, the credentials.
        if case .rcpt(let path, _) = event { return modeDecision(event, path, session) }
        if case .authenticate(let credentials) = event { return check(credentials, event) }
        if case .ehlo = event, context.configuration.withdrawPipelining {
            return SMTPDecision(.proceed, adjustments: CapabilityAdjustments(pipelining: false))
        }
        return .proceed
    }

    /// The credential checker's verdict: the normal `235`, or `535 5.7.8`.
    private mutating func check(_ credentials: SASLCredentials, _ event: SMTPEvent) -> SMTPDecision {
        if context.configuration.credentials.accepts(credentials) { return .proceed }
        return record(.credentials, event, nil, .reply(.authFailed))
    }

    /// A CRAM challenge in RFC 2195's shape, `<digits.digits@hostname>`, from
    /// the injected randomness (so a seeded test knows it in advance).
    public mutating func saslChallenge(hostname: String) -> String {
        let random = context.configuration.random
        let first = UInt64(random.nextUnit() * 1e12)
        let second = UInt64(random.nextUnit() * 1e6)
        return "<\(first).\(second)@\(hostname)>"
    }

    private func matchRules(_ event: SMTPEvent, _ session: SessionSnapshot) -> RuleMatch? {
        let command = RuleCommand(event)
        let global = context.configuration.rules
        let local = context.profile?.rules
        let runtime = context.configuration.runtime.mask & command.bit != 0 ? context.configuration.runtime : nil
        guard global.answers(command) || local?.answers(command) == true || runtime != nil else { return nil }
        let input = RuleInput(event: event, session: session, listener: context.profile?.name ?? "")
        // The listener's, then the API's, then the configured ones.
        return local?.match(input) ?? runtime?.match(input) ?? global.match(input)
    }

    // MARK: - Rules

    private func decision(for response: RuleResponse) -> SMTPDecision {
        let delivery = SMTPDelivery(delay: response.delay.map(sample), bytesPerSecond: response.bytesPerSecond,
                                    pieceSize: response.pieceSize)
        let action: SMTPDecisionAction
        switch response.action {
        case .reply:
            let reply = response.reply ?? .ok
            switch reply.code.value {
            // The greeting's, QUIT's and DATA's own codes: the command does what it
            // normally does (the 354 starts the message, the 221 closes), in the rule's words.
            case 220, 221, 354: action = .proceedWith(reply)
            default: action = .reply(reply)
            }
        case .accept: action = response.reply.map(SMTPDecisionAction.proceedWith) ?? .proceed
        case .replyAndClose: action = .replyAndClose(response.reply ?? .ok)
        case .disconnect: action = .disconnect
        case .reset: action = .reset
        case .hang: action = .hang
        case .tlsClose: action = .breakTLS(response.reply, .close)
        case .tlsGarbage: action = .breakTLS(response.reply, .garbage)
        }
        var decision = SMTPDecision(action, delivery: delivery)
        if let deliver = response.deliver { decision.deliver = deliver }
        return decision
    }

    private func sample(_ delay: RuleDelay) -> Duration {
        switch delay {
        case .fixed(let duration):
            return duration
        case .uniform(let min, let max):
            let span = Double((max - min).components.seconds) + Double((max - min).components.attoseconds) / 1e18
            return min + .milliseconds(Int64(span * context.configuration.random.nextUnit() * 1000))
        case .dice(let unit, let odds):
            // smtp-sink: as many times the delay as rolls of a 0..99 die came
            // below `odds` before the first that did not (so possibly none).
            var rolls = 0
            while Int(context.configuration.random.nextUnit() * 100) < odds && rolls < 1000 { rolls += 1 }
            return unit * rolls
        }
    }

    // MARK: - Client triggers

    private final class Armed: Sendable {
        let trigger: ClientTriggers.AddressTrigger
        init(_ trigger: ClientTriggers.AddressTrigger) { self.trigger = trigger }
    }

    private mutating func armedFiring(_ verb: String, _ event: SMTPEvent) -> SMTPDecision? {
        guard let armed, armed.trigger.verb == verb else { return nil }
        return fire(armed.trigger, event)
    }

    /// Whether a trigger could fire at `event`: the later verbs only when MAIL armed one.
    private func mayTrigger(_ event: SMTPEvent) -> Bool {
        switch event {
        case .data, .bdat, .rset, .noop, .quit, .endOfData, .startTLS, .authenticate: armed != nil
        case .helo, .ehlo, .mail, .rcpt, .vrfy: true
        default: false
        }
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
            if keywords.noPipelining || context.configuration.withdrawPipelining { adjustments.pipelining = false }
            if keywords.no8BitMIME { adjustments.eightBitMIME = false }
            if keywords.noSize { adjustments.advertiseSize = false }
            if let size = keywords.size { adjustments.maxMessageSize = max(1000, size); adjustments.advertiseSize = true }
            if keywords.noEnhancedStatusCodes { adjustments.enhancedStatusCodes = false }
            if keywords.noSMTPUTF8 { adjustments.smtpUTF8 = false }
            if keywords.noStartTLS { adjustments.startTLS = false }
            if keywords.noChunking { adjustments.chunking = false }
            if let mechanisms = keywords.authMechanisms { adjustments.authMechanisms = mechanisms }
            if let profile = keywords.tlsProfile { adjustments.tlsProfile = profile }
            note(.trigger, event, "ehlo-keywords", .capabilities)
            return SMTPDecision(.proceed, adjustments: adjustments)
        case .mail(let path, _):
            guard case .mailbox(let mailbox) = path else { return nil }
            if triggerSMTPUTF8Off, let refusal = utf8Refusal(mailbox, event) { return refusal }
            let trigger = ClientTriggers.parse(localPart: mailbox.localPart)
            if let trigger, trigger.verb == "mail" {
                return fire(trigger, event)
            }
            // An accepted MAIL arms (or clears) the later verbs' triggers.
            armed = trigger.flatMap { ["data", "rset", "noop", "quit", "starttls", "auth"].contains($0.verb) ? Armed($0) : nil }
            return nil
        case .rcpt(let path, _):
            guard case .mailbox(let mailbox) = path else { return nil }
            if triggerSMTPUTF8Off, let refusal = utf8Refusal(mailbox, event) { return refusal }
            guard let trigger = ClientTriggers.parse(localPart: mailbox.localPart), trigger.verb == "rcpt" else { return nil }
            return fire(trigger, event)
        case .data, .bdat(_, last: true):
            // BadSMTP fires its data trigger at BDAT … LAST too, before the chunk.
            return armedFiring("data", event)
        case .rset:
            return armedFiring("rset", event)
        case .noop:
            return armedFiring("noop", event)
        case .quit:
            return armedFiring("quit", event)
        case .startTLS:
            return armedFiring("starttls", event)
        case .authenticate:
            return armedFiring("auth", event)
        case .endOfData:
            // A completed message clears what its MAIL armed.
            armed = nil
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
            note(.trigger, event, trigger.verb, .delay)
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

    private mutating func modeDecision(_ event: SMTPEvent, _ path: ForwardPath, _ session: SessionSnapshot) -> SMTPDecision {
        switch mode {
        case .defer:
            return record(.mode, event, nil, .reply(context.configuration.replies.deferReply))
        case .bounce:
            return record(.mode, event, nil, .reply(context.configuration.replies.bounceReply))
        case .accept, .acceptLog:
            return acceptDecision
        case .greylist:
            let greylist = context.configuration.greylist
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
                                                 recipient: recipient, now: context.configuration.now())
                greylisted = verdict
            }
            greylistVerdict = verdict
            guard verdict.defers else {
                count(.greylist, event, verdict.rawValue, .pass)
                return acceptDecision
            }
            let reply = settings.reply(recipient: recipient, secondsLeft: left)
            let action: SMTPDecisionAction = settings.answer == .close ? .replyAndClose(reply) : .reply(reply)
            return record(.greylist, event, verdict.rawValue, SMTPDecision(action))
        }
    }

    private var acceptDecision: SMTPDecision {
        context.configuration.acceptsWithDefault ? .proceed : SMTPDecision(.proceedWith(context.configuration.replies.acceptReply))
    }

    // MARK: - Records

    private mutating func record(_ layer: DecisionLayer, _ event: SMTPEvent, _ source: String?, _ decision: SMTPDecision) -> SMTPDecision {
        let action: DecisionRecord.Action = switch decision.action {
        case .proceed, .proceedWith: decision.delivery.delay != nil ? .delay : .reply
        case .reply(let reply): reply.closesConnection ? .close : .reply
        case .replyAndClose: .close
        case .disconnect: .disconnect
        case .reset: .reset
        case .hang: .hang
        case .breakTLS: .close
        }
        note(layer, event, source, action, delayed: decision.delivery.delay != nil)
        return decision
    }

    private mutating func note(_ layer: DecisionLayer, _ event: SMTPEvent, _ source: String?, _ action: DecisionRecord.Action,
                               delayed: Bool = false) {
        let entry = DecisionRecord(layer: layer, command: RuleCommand(event), source: source, action: action, delayed: delayed)
        lastRecord = entry
        // The shell flushes at 32; the cap only guards a shell that never does.
        if records.count < 1024 { records.append(entry) }
    }

    /// Counts a decision for the metrics without making it the session's
    /// `decided_by` (a greylist pass, a standing delay).
    private mutating func count(_ layer: DecisionLayer, _ event: SMTPEvent, _ source: String?, _ action: DecisionRecord.Action) {
        if records.count < 1024 {
            records.append(DecisionRecord(layer: layer, command: RuleCommand(event), source: source, action: action, delayed: false))
        }
    }
}
