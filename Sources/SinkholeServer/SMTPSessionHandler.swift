#if canImport(Glibc)
import Glibc
#endif
import Logging
import ModeSources
import NIOCore
import NIOSSL
import NIOTLS
import SMTPProtocol
import SinkholePolicy
import SinkholeTLS

/// Runs one SMTP session on its event loop: splits the bytes into lines and
/// content, parses each line, asks the state machine (and through it the
/// policy) what to answer, writes the reply.
///
/// It never blocks and starts no tasks; replies are written as commands come
/// and flushed once per read, so a pipelined batch is answered in one write.
/// It is the only handler in a connection's pipeline, and its time limits are
/// checked by its loop's ``SessionClock``, not by timers of its own: an idle
/// connection costs as little memory as NIO allows.
final class SMTPSessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How a connection ended, for its log line.
    enum Outcome: String {
        case clientClosed = "client_closed"
        case quit
        case refused
        case idleTimeout = "idle_timeout"
        case tooManyErrors = "too_many_errors"
        case httpRequest = "http_request"
        case sessionTimeLimit = "session_time_limit"
        case dataTimeLimit = "data_time_limit"
        case shutdown
        /// The policy closed the connection without a reply (FIN).
        case disconnected
        /// The policy reset the connection (RST).
        case reset
        /// The TLS handshake failed (after STARTTLS, or on an implicit-TLS listener).
        case tlsFailed = "tls_failed"
        case error
    }

    /// Shell settings that carry out smtp-sink's timing switches (in ``Shared``).
    /// Kept as nanoseconds (0: none), not `Duration?`.
    struct DataTiming {
        private var readDelayNanoseconds: Int64 = 0
        private var abortAfterNanoseconds: Int64 = -1
        /// Most message bytes kept for rules that read the message.
        var messageLimit = 1 << 20

        init(readDelay: Duration? = nil, abortAfter: Duration? = nil, messageLimit: Int = 1 << 20) {
            readDelayNanoseconds = readDelay.map { TimeAmount($0).nanoseconds } ?? 0
            abortAfterNanoseconds = abortAfter.map { max(0, TimeAmount($0).nanoseconds) } ?? -1
            self.messageLimit = messageLimit
        }

        /// `-H`: the first read after `354` waits this long.
        var readDelay: Duration? { readDelayNanoseconds > 0 ? .nanoseconds(readDelayNanoseconds) : nil }
        /// `-A`: this long after `354`, answer `550` and close.
        var abortAfter: Duration? { abortAfterNanoseconds >= 0 ? .nanoseconds(abortAfterNanoseconds) : nil }
    }

    /// Where accepted messages are kept (`--capture memory`); nil: not kept.
    private var capture: MailStore? { shared.capture }
    /// With a disk capture: the transaction's arguments as written, and the message on its way. Boxed:
    /// a session without one carries a word.
    private final class DiskTransaction {
        var mailArgs = ""
        var rcptArgs: [String] = []
        var queueID: String?
        var message: DiskMessage?
    }
    /// Where accepted messages are written (`--maildir`, `--dump-each`, `--dump-append`), smtp-sink's
    /// `-c`, `-v`, `-s`, the disk capture's transaction and the memory capture's: one box, nil
    /// when none is on (a session without them carries a word, not 40 bytes more).
    private final class Extras {
        let disk: DiskCapture?
        let console: ConsoleOutput?
        var diskTransaction: DiskTransaction?
        /// Bytes of the message reserved from the capture budget.
        var captureReserved = 0
        /// The message did not fit the capture budget: it is refused with 452 4.3.1.
        var captureFull = false
        /// With capture on: the command being answered, and the transaction's steps so far.
        var captureCommand: String?
        var transactionSteps: [CapturedMail.Step] = []
        init(disk: DiskCapture?, console: ConsoleOutput?) {
            self.disk = disk
            self.console = console
        }
    }
    private let extras: Extras?
    private var disk: DiskCapture? { extras?.disk }
    private var console: ConsoleOutput? { extras?.console }
    private var diskTransaction: DiskTransaction? {
        get { extras?.diskTransaction }
        set { extras?.diskTransaction = newValue }
    }
    /// The listener's name, for captured mail.
    private var listenerName: String { shared.listenerName }
    private var captureReserved: Int {
        get { extras?.captureReserved ?? 0 }
        set { extras?.captureReserved = newValue }
    }
    private var captureFull: Bool {
        get { extras?.captureFull ?? false }
        set { extras?.captureFull = newValue }
    }
    private var captureCommand: String? {
        get { extras?.captureCommand }
        set { extras?.captureCommand = newValue }
    }
    /// The buffer replies are written into, kept once the client sends a command and
    /// reused once SwiftNIO has written it out: no allocation per reply. An idle
    /// connection (greeted, silent) holds none.
    private var replyBuffer: ByteBuffer?
    /// A handshake is under way: its failure is this session's end. (The one-byte fields
    /// sit in the bytes an optional ByteBuffer or Int leaves of its stride: 24 bytes of
    /// padding fewer in every handler.)
    private var handshaking = false
    /// Where finished sessions' transcripts go (`--journal-max-sessions`); nil: not kept.
    private var journal: SessionJournal? { shared.journal }
    /// This session's transcript; one that takes no line when no journal is kept.
    private var transcript = JournalWriter(maxLines: 0)
    /// Lines the transcript still takes; past the cap a line costs one decrement.
    private var journalRoom = 0
    private var journalDropped = 0

    /// The certificates STARTTLS hands out; nil where TLS is not configured.
    private var tls: TLSServerContexts? { shared.tls }
    /// Which certificate this listener presents.
    private var tlsProfile: CertificateProfile { shared.tlsProfile }
    /// What the handshake settled, boxed: a plain session carries one word for it
    /// (and the handler stays in malloc's small, fast size classes).
    private final class TLSInfo {
        /// The negotiated version (`TLSv1.3`), once the handshake is done.
        var version: String?
        /// The cipher suite and the client's SNI name, read off the handshake.
        var cipher: String?
        var serverName: String?
    }
    private var tlsInfo: TLSInfo?
    private var tlsVersion: String? { tlsInfo?.version }
    private var tlsCipher: String? { tlsInfo?.cipher }
    private var tlsServerName: String? { tlsInfo?.serverName }
    /// smtp-sink's `-M` and `-n`: what this session counts toward stopping.
    private var stopLimits: StopLimits? { shared.stopLimits }

    private var decoder: SMTPFrameDecoder
    /// Bytes of a line not yet complete, kept until the next read.
    private var pending: ByteBuffer?
    /// In channelRead: the journal stamps lines with the read's time, not a clock read each.
    /// (Here, in the byte the optional ByteBuffer above leaves.)
    private var reading = false
    private var session: SMTPSessionStateMachine
    private var policy: SessionPolicy
    private var logger: Logger { shared.logger }
    private let remote: SocketAddress?
    private var headerLogLimit: Int { shared.headerLogLimit }

    /// The idle timeout (per read), and the limits on wall time that it cannot
    /// enforce: a client trickling a byte every few seconds is never idle.
    struct TimeLimits {
        var idle: Duration = .seconds(SMTPDefaults.idleTimeoutSeconds)
        var session: Duration = .seconds(SMTPDefaults.sessionTimeLimitSeconds)
        var data: Duration = .seconds(SMTPDefaults.dataTimeLimitSeconds)
    }
    private var idleTimeout: TimeAmount { shared.idleTimeout }
    private var sessionTimeLimit: TimeAmount { shared.sessionTimeLimit }
    private var dataTimeLimit: TimeAmount { shared.dataTimeLimit }
    private let clock: SessionClock?
    /// This session's place in its clock's list.
    var clockIndex = -1
    private var context: ChannelHandlerContext?
    private var started = NIODeadline.uptimeNanoseconds(0)
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    private var dataDeadline = NIODeadline.distantFuture
    private var lingerDeadline = NIODeadline.distantFuture
    private var maxErrors: Int { shared.maxErrors }
    private var errors = 0
    private var metrics: ServerMetrics? { shared.metrics }
    private var tally = ServerMetrics.Tally()
    /// What the next reply answers, for the replies counter.
    private var replyingTo = "connect"

    private var dataTiming: DataTiming { shared.dataTiming }
    // Read once from the policy: a struct of the policy's module, copied whole
    // by every call of a computed property from here.
    private let contentThreshold: Int?
    /// The session does not offer ENHANCEDSTATUSCODES (BadSMTP's
    /// `noenhancedstatuscodes`): its replies go without them. Set after each HELO/EHLO.
    private var stripEnhanced = false
    /// Why input is not taken now; empty while the session runs, so the read
    /// loop checks one word.
    private struct Halt: OptionSet {
        let rawValue: UInt8
        /// A closing reply is out (or going): what follows is read and dropped.
        static let closing = Halt(rawValue: 1)
        /// A delayed or dribbled reply is on its way: input waits behind it.
        static let holding = Halt(rawValue: 2)
        /// The policy said never to answer again.
        static let hanging = Halt(rawValue: 4)
        /// STARTTLS was accepted in this read: the rest of it is plaintext the
        /// client had no business sending, and is dropped (CVE-2011-0411).
        static let upgrading = Halt(rawValue: 8)
    }
    private var halt: Halt = []
    // Read once from the policy, like `contentThreshold` (here, in the bytes the optional
    // Int leaves of its stride).
    private let logsMessages: Bool
    private let wantsMessage: Bool
    /// A rule's `tls_garbage`: the ClientHello gets bytes that are no TLS.
    private var answerHandshakeWithGarbage = false
    /// The listener speaks LMTP.
    private let lmtp: Bool
    /// The message went past the size limit: its content is read and dropped.
    private var contentExceeded = false
    private var closing: Bool {
        get { halt.contains(.closing) }
        set { if newValue { halt.insert(.closing) } else { halt.remove(.closing) } }
    }
    private var holding: Bool {
        get { halt.contains(.holding) }
        set { if newValue { halt.insert(.holding) } else { halt.remove(.holding) } }
    }
    private var hanging: Bool {
        get { halt.contains(.hanging) }
        set { if newValue { halt.insert(.hanging) } else { halt.remove(.hanging) } }
    }
    /// The content size at which the policy is next asked about the message.
    private var contentCheckAt = Int.max
    /// The message's text, for rules that read it and for capture.
    private var messageText: ByteBuffer?
    /// The BDAT chunk being read is the message's last.
    private var chunkLast = false
    /// Messages begun (354 sent), so a timer knows whether its message is still the one in DATA.
    private var dataStarts = 0

    // The message being received.
    private var contentSize = 0
    private var headers: ByteBuffer?
    private var headersComplete = false

    // Figures for the connection's log line.
    private var commands = 0
    private var messages = 0
    private var acceptedRecipients = 0
    private var refusedRecipients = 0
    private var lastReplyCode: Int?
    private var outcome: Outcome?
    private var closeAfterMessage = false
    /// Reading stopped until the client reads its replies (see channelReadComplete).
    private var readsPaused = false
    /// The channel said it is not writable (its last writability change): kept here,
    /// so the end of every read does not ask the channel.
    private var unwritable = false

    /// What every session of a listener shares and never changes: one reference in each
    /// handler instead of some 130 bytes of copies and seven retains and releases per
    /// connection (10,000 idle connections hold 1.4 MB less).
    final class Shared: Sendable {
        let lineLengthLimit: Int
        let headerLogLimit: Int
        let idleTimeout: TimeAmount
        let sessionTimeLimit: TimeAmount
        let dataTimeLimit: TimeAmount
        let maxErrors: Int
        let dataTiming: DataTiming
        let metrics: ServerMetrics?
        let capture: MailStore?
        let disk: DiskCapture?
        let console: ConsoleOutput?
        let journal: SessionJournal?
        let listenerName: String
        let tls: TLSServerContexts?
        let tlsProfile: CertificateProfile
        let stopLimits: StopLimits?
        let logger: Logger
        /// Where the session handler takes its channel out when the connection ends; nil
        /// where another handler does (a PROXY listener's) or nothing admitted it (tests).
        let registry: ConnectionRegistry?

        init(
            lineLengthLimit: Int = SMTPDefaults.commandLineLengthLimit,
            headerLogLimit: Int,
            timeLimits: TimeLimits = TimeLimits(),
            maxErrors: Int = SMTPDefaults.maxErrors,
            dataTiming: DataTiming = DataTiming(),
            metrics: ServerMetrics? = nil,
            capture: MailStore? = nil,
            disk: DiskCapture? = nil,
            console: ConsoleOutput? = nil,
            journal: SessionJournal? = nil,
            listenerName: String = "",
            tls: TLSServerContexts? = nil,
            tlsProfile: CertificateProfile = .valid,
            stopLimits: StopLimits? = nil,
            logger: Logger,
            registry: ConnectionRegistry? = nil
        ) {
            self.lineLengthLimit = lineLengthLimit
            self.headerLogLimit = headerLogLimit
            self.idleTimeout = TimeAmount(timeLimits.idle)
            self.sessionTimeLimit = TimeAmount(timeLimits.session)
            self.dataTimeLimit = TimeAmount(timeLimits.data)
            self.maxErrors = maxErrors
            self.dataTiming = dataTiming
            self.metrics = metrics
            self.capture = capture
            self.disk = disk
            self.console = console
            self.journal = journal
            self.listenerName = listenerName
            self.tls = tls
            self.tlsProfile = tlsProfile
            self.stopLimits = stopLimits
            self.logger = logger
            self.registry = registry
        }
    }
    private let shared: Shared

    /// `shared`: what the listener's sessions share (the server makes one per listener).
    /// `remote`: the client, for the log lines (each carries `client`) and the
    /// policy. `clock`: what enforces the shared time limits; without one they are not.
    init(
        shared: Shared,
        configuration: SessionConfiguration,
        policy: SessionPolicy,
        remote: SocketAddress?,
        proxyAuthorized: Bool = false,
        clock: SessionClock? = nil,
        secured: Bool = false
    ) {
        self.shared = shared
        self.handshaking = secured
        let console = shared.console?.isActive == true ? shared.console : nil
        self.extras = shared.disk == nil && console == nil && shared.capture == nil
            ? nil : Extras(disk: shared.disk, console: console)
        if let journal = shared.journal {
            transcript = JournalWriter(maxLines: journal.maxLines)
            journalRoom = journal.maxLines
        }
        self.logsMessages = policy.mode.logsMessages
        self.wantsMessage = policy.wantsMessage
        self.contentThreshold = policy.contentThreshold
        self.clock = clock
        self.decoder = SMTPFrameDecoder(lineLengthLimit: shared.lineLengthLimit)
        self.lmtp = configuration.lmtp
        self.session = SMTPSessionStateMachine(configuration: configuration, clientIP: remote?.ipText, secured: secured,
                                               proxyAuthorized: proxyAuthorized)
        // Withheld ENHANCEDSTATUSCODES: no enhanced codes from the first reply on.
        self.stripEnhanced = !configuration.enhancedStatusCodes
        self.policy = policy
        self.remote = remote
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        shared.registry?.remove(context.channel)
    }

    func channelActive(context: ChannelHandlerContext) {
        metrics?.connectionsActive.increment()
        metrics?.connectionsTotal.increment()
        started = context.eventLoop.now
        lastRead = started
        clock?.register(self)
        if let console {
            console.converse(clientText, "connect", "")
            if console.loggedCommands.contains("CONNECT") { logger.info("command", metadata: ["client": clientMetadata, "command": "CONNECT"]) }
        }
        reading = true
        perform(session.greeting(decider: &policy), delivery: session.delivery, context: context)
        reading = false
        context.flush()
        // An idle connection holds no tally: the greeting's reply is counted now.
        if let metrics, !tally.isEmpty {
            metrics.add(&tally)
            tally = ServerMetrics.Tally()
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if answerHandshakeWithGarbage {
            // Not a TLS record: the client's TLS library says what it makes of it.
            answerHandshakeWithGarbage = false
            context.write(wrapOutboundOut(ByteBuffer(string: "sinkhole: this is not TLS\r\n")), promise: nil)
            return close(context: context, outcome: .tlsFailed)
        }
        guard halt.isDisjoint(with: [.closing, .hanging]) else {
            // Not answered, but journalled: "the client sent QUIT after the 421" is checkable.
            if journalRoom > 0 { journalUnanswered(unwrapInboundIn(data)) }
            return
        }
        lastRead = context.eventLoop.now
        var input = unwrapInboundIn(data)
        if var kept = pending {
            pending = nil
            kept.writeBuffer(&input)
            input = kept
        }
        reading = true
        process(&input, context: context)
        reading = false
    }

    /// Takes commands and content from `input` until it runs out or a reply
    /// is held back; keeps what is left for later.
    private func process(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        while halt.isEmpty, let part = decoder.next(from: &input) {
            receive(part, context: context)
        }
        if halt.contains(.upgrading) {
            halt.remove(.upgrading)
            discardAfterStartTLS(input.readableBytes)
            input.moveReaderIndex(forwardBy: input.readableBytes)
        } else if !halt.isDisjoint(with: [.closing, .hanging]) {
            // Lines that came in the same read as the closing reply are journalled
            // as the ones after it are (a message body is not).
            if journalRoom > 0 && input.readableBytes > 0 && !decoder.isReadingContent { journalUnanswered(input) }
        } else if input.readableBytes > 0 {
            // At most a line's worth (longer lines are discarded as they come),
            // copied so the read buffer itself is not held.
            var kept = context.channel.allocator.buffer(capacity: input.readableBytes)
            kept.writeBuffer(&input)
            pending = kept
        }
    }

    private func receive(_ part: SMTPInboundPart, context: ChannelHandlerContext) {
        switch part {
        case .line(let line) where session.awaitingAuthResponse:
            // A SASL response: credentials. Never journalled, logged or kept.
            tally.bytes += line.readableBytes + 2
            if journalRoom > 0 { note(.client, "<AUTH response, not kept>") } else if journal != nil { journalDropped += 1 }
            replyingTo = "AUTH"
            console?.converse(clientText, "<", "<AUTH response, not kept>")
            perform(session.receiveAuthResponse(String(decoding: line.readableBytesView, as: UTF8.self), decider: &policy),
                    delivery: session.delivery, context: context)
            return
        case .line(let line):
            commands += 1
            tally.bytes += line.readableBytes + 2
            if Self.isAuthCommand(line) {
                // The verb and mechanism only: an initial response is a credential.
                let shown = Self.redactedAuth(line)
                if journalRoom > 0 { note(.client, shown) } else if journal != nil { journalDropped += 1 }
                if capture != nil { captureCommand = shown }
            } else {
                if journalRoom > 0 { note(.client, line.readableBytesView) } else if journal != nil { journalDropped += 1 }
                if capture != nil { captureCommand = String(decoding: line.readableBytesView.prefix(512), as: UTF8.self) }
            }
            if let console { showCommand(line, console) }
            let parsed = SMTPCommandParser.parse(line)
            // An HTTP request line never parses as SMTP (no HTTP verb is an SMTP
            // verb), so only a failed line is looked at again.
            if case .failure = parsed, Self.isHTTPRequest(line) {
                notice("http_request")
                outcome = .httpRequest
                perform(.replyAndClose(session.replies.adapt(.httpRequest)), context: context)
                return
            }
            switch parsed {
            case .success(let command):
                replyingTo = command.verb
                let before = session.recipients.count
                let action = session.receive(command, decider: &policy)
                if disk != nil { noteArguments(command, action, line: line, acceptedBefore: before) }
                switch command {
                case .quit: console?.quit()
                case .rcpt: countRecipient(action, acceptedBefore: before)
                case .ehlo, .helo: stripEnhanced = !session.enhancedStatusCodes
                default: break
                }
                perform(action, delivery: session.delivery, context: context)
            case .failure(let error) where error.reply == .commandUnrecognized:
                replyingTo = "unrecognized"
                perform(session.receiveUnknown(error, decider: &policy), delivery: session.delivery, context: context)
            case .failure(let error):
                replyingTo = "unrecognized"
                perform(session.reject(error), context: context)
            }
        case .lineTooLong:
            commands += 1
            if journalRoom > 0 { note(.note, "line over \(decoder.lineLengthLimit) bytes, not kept") }
            replyingTo = "unrecognized"
            notice("limit_exceeded", [
                "limit": "command_line_length", "max": .stringConvertible(decoder.lineLengthLimit),
            ])
            perform(.reply(session.replies.lineTooLong), context: context)
        case .content(let bytes):
            tally.bytes += bytes.readableBytes
            // A refused BDAT chunk is read to its end and dropped.
            if !session.isDroppingChunk { receiveContent(bytes, context: context) }
            // Decisions part-way through content are rare: flushed with the next line.
            return
        case .endOfContent:
            tally.bytes += 3  // the ".\r\n" that ends it
            replyingTo = "end_of_data"
            finishMessage(context: context)
        case .endOfChunk:
            finishChunk(context: context)
        }
        // The engine's records go with the message's tally, or sooner if many gather.
        if policy.records.count >= 32 { flushRecords() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        // A client that sends without reading its replies is not read from
        // until they drain: what sinkhole holds for it stays bounded.
        if unwritable && !readsPaused {
            readsPaused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        unwritable = !context.channel.isWritable
        if !unwritable { resumeReads(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func resumeReads(context: ChannelHandlerContext) {
        guard readsPaused else { return }
        readsPaused = false
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Only a closing session pays for this cast.
        if closing, let event = event as? ChannelEvent, case .outputClosed = event {
            outputShut(context: context)
            return context.fireUserInboundEventTriggered(event)
        }
        // Only a connection that can do TLS pays for the cast.
        if tls != nil, let event = event as? TLSUserEvent {
            if case .handshakeCompleted = event { handshakeCompleted(context: context) }
            context.fireUserInboundEventTriggered(event)
        } else if tls != nil, let hello = event as? TLSHelloSeen {
            let info = tlsInfo ?? TLSInfo()
            info.cipher = hello.cipher
            info.serverName = hello.serverName
            tlsInfo = info
        } else if event is ShutdownRequested {
            guard !closing else { return }
            if session.isReceivingData {
                closeAfterMessage = true
            } else {
                outcome = .shutdown
                perform(.replyAndClose(session.replies.shuttingDown), context: context)
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if handshaking, !closing {
            // A failed handshake ends this connection only; the log says why.
            handshaking = false
            outcome = .tlsFailed
            let reason = Self.handshakeFailure(error)
            metrics?.tlsFailed(reason)
            notice("tls_handshake_failed", ["reason": "\(reason.rawValue)", "error": "\(error)"])
            return context.close(promise: nil)
        }
        if tls != nil, let error = error as? NIOSSLError, case .uncleanShutdown = error {
            // A client that closes without TLS's close_notify: common, and harmless here.
            return context.close(promise: nil)
        }
        // A reset after 221 (smtp-source closes that way) is a normal end.
        if !closing {
            logger.debug("connection_error", metadata: ["client": clientMetadata, "error": "\(error)"])
            outcome = outcome ?? .error
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let duration = context.eventLoop.now - started
        flushRecords()
        if let metrics {
            metrics.connectionsActive.decrement()
            metrics.sessionDuration.recordNanoseconds(duration.nanoseconds)
            if !tally.isEmpty { metrics.add(&tally) }
        }
        clock?.deregister(self)
        pending = nil
        // A message cut off (a timeout, the client gone) gives its capture budget back.
        abandonMessage()
        session.close()
        if let journal {
            var transcript = transcript
            self.transcript = JournalWriter(maxLines: 0)
            transcript.countDropped(journalDropped)
            // The start from the end and the duration: no wall-clock time kept per session.
            let ended = Self.wallClock()
            journal.add(JournalRecord(
                clientIP: session.sessionSnapshot.clientIP ?? "", clientPort: remote?.port ?? 0, listener: listenerName,
                mode: policy.mode, started: ended - Double(duration.nanoseconds) / 1e9, ended: ended,
                outcome: (outcome ?? .clientClosed).rawValue, transcript: transcript))
        }
        // Built only when the line is written: the metadata is an autoclosure.
        logger.info("connection", metadata: connectionMetadata(duration: duration))
        if let console {
            console.converse(clientText, "disconnect", "")
            console.sessionEnded()
        }
        stopLimits?.sessionEnded()
        context.fireChannelInactive()
    }

    private func connectionMetadata(duration: TimeAmount) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "client": clientMetadata,
            "mode": "\(policy.mode)",
            "commands": .stringConvertible(commands),
            "messages": .stringConvertible(messages),
            "rcpt_accepted": .stringConvertible(acceptedRecipients),
            "rcpt_refused": .stringConvertible(refusedRecipients),
            "outcome": "\((outcome ?? .clientClosed).rawValue)",
            "duration_ms": .stringConvertible(duration.nanoseconds / 1_000_000),
        ]
        if let lastReplyCode { metadata["last_reply"] = .stringConvertible(lastReplyCode) }
        if let tlsVersion { metadata["tls"] = "\(tlsVersion)" }
        if let tlsCipher { metadata["tls_cipher"] = "\(tlsCipher)" }
        if let tlsServerName { metadata["tls_sni"] = "\(tlsServerName)" }
        if let user = session.authenticatedUser { metadata["auth_user"] = "\(user)" }
        if session.proxiedClient { metadata["proxied_client"] = "\(session.sessionSnapshot.clientIP ?? "unknown")" }
        if let record = policy.lastRecord {
            metadata["decided_by"] = "\(record.layer.rawValue)"
            metadata["decided_at"] = "\(record.event)"
            if let source = record.source {
                switch record.layer {
                case .rule: metadata["rule"] = "\(source)"
                case .trigger: metadata["trigger"] = "\(source)"
                case .profile: metadata["listener"] = "\(source)"
                case .mode, .greylist, .credentials: break
                }
            }
        }
        if let verdict = policy.greylistVerdict { metadata["greylist"] = "\(verdict.rawValue)" }
        return metadata
    }

    /// The client's address as the policy sees it: the peer's, or what XCLIENT or XFORWARD said.
    private var clientIP: String {
        session.proxiedClient ? (session.sessionSnapshot.clientIP ?? "") : (remote?.ipText ?? "")
    }

    private var clientMetadata: Logger.MetadataValue {
        .string(remote.map(SMTPServer.describe) ?? "unknown")
    }

    /// A notice about this connection, with its `client`.
    private func notice(_ event: Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata = [:]) {
        logger.notice(event, metadata: metadata().merging(["client": clientMetadata]) { $1 })
    }

    // MARK: - Time limits

    /// The earliest moment something is due: a limit, or the end of lingering.
    var nextDeadline: NIODeadline {
        if closing { return lingerDeadline }
        // While a reply is held back, sinkhole is the one keeping the client
        // waiting (a 600 s greeting): the idle timeout does not run.
        if holding { return min(started + sessionTimeLimit, dataDeadline) }
        return min(lastRead + idleTimeout, started + sessionTimeLimit, dataDeadline)
    }

    /// Called by the clock once `nextDeadline` has passed.
    func deadlinePassed(now: NIODeadline) {
        guard let context, nextDeadline <= now else { return }
        if closing {
            context.close(promise: nil)
            return
        }
        // The earliest limit is the one that passed, and the one reported.
        let idle = holding ? NIODeadline.distantFuture : lastRead + idleTimeout
        let whole = started + sessionTimeLimit
        if idle <= whole && idle <= dataDeadline {
            exceeded("idle_timeout", .idleTimeout, reply: .idleTimeout, context: context)
        } else if whole <= dataDeadline {
            exceeded("session_time_limit", .sessionTimeLimit, reply: .sessionTimeLimit, context: context)
        } else {
            exceeded("data_time_limit", .dataTimeLimit, reply: .dataTimeLimit, context: context)
        }
    }

    // MARK: - Replies

    /// Carries out `action`: at once, or after the delivery's delay (input
    /// waits behind it, so pipelined replies stay in order), or slowly.
    private func perform(_ action: SessionAction, delivery: SMTPDelivery = .immediate, context: ChannelHandlerContext) {
        if case .none = action { return }
        if let delay = delivery.delay, delay > .zero {
            hold(context: context)
            var rest = delivery
            rest.delay = nil
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
                guard let context = self.context, !closing else { return }
                // The client waited for us, not we for it.
                lastRead = context.eventLoop.now
                holding = false
                perform(action, delivery: rest, context: context)
                // A dribbled reply holds input again until its last byte is out.
                if !holding { release(context: context) }
            }
            return
        }
        switch action {
        case .reply(let reply):
            write(reply, delivery: delivery, context: context)
        case .replies(let list):
            // LMTP: one reply per recipient; a 421 or a rule's reply_and_close among them is
            // the last, and the session is then closed. (A delay holds them all, above; they
            // are written at once, not dribbled.)
            for reply in list { write(reply, context: context) }
            if session.isClosed { close(context: context, outcome: .refused) }
        case .startData(let reply):
            write(reply, delivery: delivery, context: context)
            beginMessage(context: context)
            decoder.beginContent()
            dataDeadline = context.eventLoop.now + dataTimeLimit
            startDataTiming(context: context)
        case .receiveChunk(let chunk):
            // No reply yet: it follows the chunk's octets.
            if chunk.starts { beginMessage(context: context) }
            if !chunk.keep { abandonMessage() }
            if journalRoom > 0 { note(.note, "chunk of \(chunk.size) octets\(chunk.keep ? "" : ", dropped")") }
            chunkLast = chunk.last
            decoder.beginChunk(size: chunk.size)
            // Each chunk has the DATA time limit; a client that sends fewer octets than it said meets the idle timeout.
            dataDeadline = context.eventLoop.now + dataTimeLimit
        case .replyAndClose(let reply):
            write(reply, delivery: delivery, context: context) { [self] context in
                close(context: context, outcome: reply.code == .closing ? .quit : .refused)
            }
        case .disconnect:
            close(context: context, outcome: .disconnected)
        case .reset:
            resetConnection(context: context)
        case .hang:
            hang(context: context)
        case .startTLS(let reply):
            write(reply, delivery: delivery, context: context)
            startTLS(context: context)
        case .breakTLS(let reply, let how):
            write(reply, delivery: delivery, context: context) { [self] context in
                notice("tls_broken", ["how": "\(how.rawValue)"])
                if how == .garbage {
                    // Answered when the ClientHello comes, so the client reads the
                    // garbage as the server's handshake, not with the 220's line.
                    answerHandshakeWithGarbage = true
                    outcome = .tlsFailed
                    context.flush()
                } else {
                    close(context: context, outcome: .tlsFailed)
                }
            }
        case .none:
            break
        }
    }

    // MARK: - TLS

    /// After STARTTLS's 220: the handshake, on this connection, from the next byte the client sends.
    private func startTLS(context: ChannelHandlerContext) {
        guard let tls else {
            // The state machine offers STARTTLS only where TLS is configured.
            return close(context: context, outcome: .tlsFailed)
        }
        context.flush()
        // Whatever came after STARTTLS before the handshake: never a command (RFC 3207 §4.2).
        if let kept = pending {
            pending = nil
            discardAfterStartTLS(kept.readableBytes)
        }
        if reading { halt.insert(.upgrading) }
        do {
            // BadSMTP-style: the EHLO name may ask for a certificate profile (`tlsexpired-…`).
            let profile = session.tlsProfile.flatMap { CertificateProfile(parsing: $0) } ?? tlsProfile
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context(profile)), position: .first)
            try context.pipeline.syncOperations.addHandler(TLSHelloTap(), position: .first)
            handshaking = true
        } catch {
            notice("tls_handshake_failed", ["reason": "\(error)"])
            close(context: context, outcome: .tlsFailed)
        }
    }

    private func discardAfterStartTLS(_ bytes: Int) {
        guard bytes > 0 else { return }
        notice("starttls_discarded", ["bytes": .stringConvertible(bytes)])
        if journalRoom > 0 { note(.note, "\(bytes) bytes sent after STARTTLS before the handshake, discarded") }
    }

    private func handshakeCompleted(context: ChannelHandlerContext) {
        handshaking = false
        let version = (try? context.pipeline.syncOperations.nioSSL_tlsVersion()).flatMap { $0 }
        let info = tlsInfo ?? TLSInfo()
        info.version = version.map(Self.describe) ?? "unknown"
        tlsInfo = info
        metrics?.tlsHandshakes.increment()
        if journalRoom > 0 {
            note(.note, "TLS \(tlsVersion ?? "unknown") established, cipher \(tlsCipher ?? "unknown")"
                + (tlsServerName.map { ", SNI \($0)" } ?? ""))
        }
    }

    /// The failure's kind, read off BoringSSL's reason codes in the error
    /// (`…:OPENSSL_internal:WRONG_VERSION_NUMBER at …`).
    static func handshakeFailure(_ error: any Error) -> ServerMetrics.TLSFailure {
        if let error = error as? NIOSSLError, case .uncleanShutdown = error { return .clientClosed }
        if error is ChannelError { return .clientClosed }
        let codes = "\(error)".components(separatedBy: "OPENSSL_internal:").dropFirst()
            .map { $0.prefix { $0.isLetter || $0.isNumber || $0 == "_" } }
        func any(_ test: (Substring) -> Bool) -> Bool { codes.contains(where: test) }
        if any({ ["WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNEXPECTED_RECORD", "DECODE_ERROR",
                  "UNEXPECTED_MESSAGE", "RECORD_TOO_LARGE", "EXCESSIVE_MESSAGE_SIZE"].contains(String($0)) }) { return .notTLS }
        // An alert about the certificate; or, in TLS 1.3, a record sinkhole cannot
        // decrypt right after its certificate went out: OpenSSL's client sends its
        // refusal in plaintext, before its own keys are in use.
        if any({ $0.contains("ALERT") && ($0.contains("CA") || $0.contains("CERTIFICATE")) })
            || any({ $0 == "DECRYPTION_FAILED_OR_BAD_RECORD_MAC" }) { return .certificateRefused }
        if any({ $0.hasPrefix("NO_SHARED") || $0.hasPrefix("UNSUPPORTED_PROTOCOL") || $0.contains("VERSION") }) {
            return .noCommonParameters
        }
        return .other
    }

    static func describe(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }

    /// Hands the engine's decision records to the metrics (the array is
    /// passed, not copied, and emptied after, keeping its storage).
    private func flushRecords() {
        guard policy.hasRecords else { return }
        if let metrics { metrics.add(policy.records) }
        policy.clearRecords()
    }

    /// Stops taking input until ``release(context:)``: a reply is on its way.
    private func hold(context: ChannelHandlerContext) {
        holding = true
        context.flush()
        if !readsPaused {
            readsPaused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
    }

    /// Takes input again: what arrived meanwhile first.
    private func release(context: ChannelHandlerContext) {
        holding = false
        guard !closing, !hanging else { return }
        if var input = pending {
            pending = nil
            process(&input, context: context)
        }
        context.flush()
        if !holding && context.channel.isWritable { resumeReads(context: context) }
    }

    /// Answers nothing more; what the client sends is read and dropped, until
    /// it gives up or a time limit ends the session.
    private func hang(context: ChannelHandlerContext) {
        hanging = true
        pending = nil
        context.flush()
        resumeReads(context: context)
    }

    /// Closes with an RST (SO_LINGER 0) instead of a FIN.
    private func resetConnection(context: ChannelHandlerContext) {
        closing = true
        outcome = outcome ?? .reset
        let channel = context.channel
        context.flush()
        guard let provider = channel as? any SocketOptionProvider else { return channel.close(promise: nil) }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// smtp-sink's -H (no read for a while after 354) and -A (550 after a while, then close).
    private func startDataTiming(context: ChannelHandlerContext) {
        // With -A as well, nothing after the 354 is read at all: -H has nothing to delay.
        if let delay = dataTiming.readDelay, delay > .zero, dataTiming.abortAfter == nil {
            hold(context: context)
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
                guard let context = self.context, !closing else { return }
                release(context: context)
            }
        }
        if let abort = dataTiming.abortAfter {
            // Nothing more is read: an attempt to block the client before it sends the dot.
            hold(context: context)
            dataStarts += 1
            let thisMessage = dataStarts
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(abort)) { [self] in
                guard let context = self.context, !closing, !hanging, session.isReceivingData,
                      dataStarts == thisMessage else { return }
                session.close()
                replyingTo = "end_of_data"
                perform(.replyAndClose(session.replies.adapt(.dataAborted)), context: context)
            }
        }
    }

    /// A time limit ran out: say why, with 421 4.4.2, and close.
    private func exceeded(_ limit: String, _ reason: Outcome, reply: SMTPReply, context: ChannelHandlerContext) {
        guard !closing else { return }
        notice("limit_exceeded", ["limit": "\(limit)"])
        outcome = reason
        perform(.replyAndClose(session.replies.adapt(reply)), context: context)
    }

    /// With capture on: a reply in the open transaction (from MAIL FROM on) joins its steps.
    private func recordStep(_ reply: SMTPReply) {
        guard let command = captureCommand else { return }
        captureCommand = nil
        let isMail = command.prefix(4).uppercased() == "MAIL"
        if isMail && reply.code.isPositive { extras?.transactionSteps.removeAll(keepingCapacity: true) }
        guard session.reversePath != nil else { return }
        extras?.transactionSteps.append(CapturedMail.Step(command: command, reply: Self.text(of: outgoing(reply)), decision: decisionText()))
    }

    private static func text(of reply: SMTPReply) -> String {
        var text = reply.description
        text.removeLast()  // the final CRLF
        return text
    }

    /// The decision behind the reply just made, when it was not the protocol's.
    private func decisionText() -> String? {
        guard session.decided, let record = policy.lastRecord else { return nil }
        var text = record.layer.rawValue
        if let source = record.source { text += " \(source)" }
        if record.action != .reply { text += " (\(record.action.rawValue))" }
        return text
    }

    // MARK: - Journal

    private func note(_ kind: JournalEntry.Kind, _ text: ByteBufferView) {
        guard let context else { return }
        journalRoom -= 1
        let ms = ((reading ? lastRead : context.eventLoop.now) - started).nanoseconds / 1_000_000
        if let clock, transcript.lines == 0 {
            // The greeting, most often the same as the last session's on this loop: shared.
            text.withContiguousStorageIfAvailable { transcript.appendFirst(kind, at: ms, $0, sharing: &clock.journalFirstLine) }
        } else {
            text.withContiguousStorageIfAvailable { transcript.append(kind, at: ms, $0) }
        }
    }

    private func note(_ kind: JournalEntry.Kind, _ text: String) {
        guard let context else { return }
        journalRoom -= 1
        let ms = ((reading ? lastRead : context.eventLoop.now) - started).nanoseconds / 1_000_000
        var text = text
        text.withUTF8 { transcript.append(kind, at: ms, $0) }
    }

    /// Whole lines that arrive once sinkhole has stopped answering (closing, hanging).
    private func journalUnanswered(_ input: ByteBuffer) {
        // Stamped with the clock, not lastRead: these lines must not hold off the idle timeout.
        var view = input.readableBytesView[...]
        while journalRoom > 0, let newline = view.firstIndex(of: 10) {
            var line = view[view.startIndex..<newline]
            if line.last == 13 { line = line.dropLast() }
            note(.client, line)
            view = view[(newline + 1)...]
        }
    }

    /// The reply as sent (its bytes, without the last CRLF), and what chose
    /// it when that was not the protocol.
    private func journalReply(_ wire: ByteBuffer) {
        note(.server, wire.readableBytesView.dropLast(2))
        if session.decided, journalRoom > 0, let record = policy.lastRecord {
            journalRoom -= 1
            let ms = ((reading ? lastRead : context?.eventLoop.now ?? lastRead) - started).nanoseconds / 1_000_000
            transcript.append(.decision, at: ms, record.layer.rawValue, record.source,
                               record.action == .reply ? nil : record.action.rawValue)
        }
    }

    /// Seconds since 1970, for captured mail.
    static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// `AUTH ...`, in any case.
    @inline(__always)
    static func isAuthCommand(_ line: ByteBuffer) -> Bool {
        // One byte looked at for nearly every line: no view, no array.
        guard let first = line.getInteger(at: line.readerIndex, as: UInt8.self), first | 0x20 == UInt8(ascii: "a"),
              let word = line.getInteger(at: line.readerIndex, as: UInt32.self) else { return false }
        guard word | 0x2020_2020 == 0x6175_7468 else { return false }  // "auth", big-endian, any case
        return line.readableBytes == 4 || line.getInteger(at: line.readerIndex + 4, as: UInt8.self) == 32
    }

    /// `AUTH PLAIN <initial response not kept>`: what the journal keeps of an AUTH line.
    static func redactedAuth(_ line: ByteBuffer) -> String {
        let words = String(decoding: line.readableBytesView.prefix(64), as: UTF8.self).split(separator: " ", maxSplits: 2)
        var shown = words.prefix(2).joined(separator: " ")
        if words.count > 2 || line.readableBytes > 64 { shown += " <initial response not kept>" }
        return shown
    }

    /// `GET / HTTP/1.1` and the like: a verb of HTTP's, then ` HTTP/`.
    static func isHTTPRequest(_ line: ByteBuffer) -> Bool {
        let view = line.readableBytesView
        guard let space = view.firstIndex(of: UInt8(ascii: " ")) else { return false }
        let verb = view[view.startIndex..<space]
        guard verb.count <= 7, ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH"]
            .contains(where: { verb.elementsEqual($0.utf8) }) else { return false }
        let http = Array(" HTTP/".utf8)
        var index = space
        while index + http.count <= view.endIndex {
            if view[index..<index + http.count].elementsEqual(http) { return true }
            index += 1
        }
        return false
    }

    /// Writes `reply` at once, or in pieces (`pieceSize`) or slowly
    /// (`bytesPerSecond`) with input held meanwhile; then calls `then`.
    private func write(_ reply: SMTPReply, delivery: SMTPDelivery, context: ChannelHandlerContext,
                       then: ((ChannelHandlerContext) -> Void)? = nil) {
        guard delivery.bytesPerSecond != nil || delivery.pieceSize != nil else {
            write(reply, context: context)
            then?(context)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        buffer.writeSMTPReply(outgoing(reply))
        count(reply)
        if journalRoom > 0 { journalReply(buffer) }
        let rate = delivery.bytesPerSecond
        // At most ten writes a second when dribbling.
        let piece = max(1, delivery.pieceSize ?? max(1, (rate ?? 10) / 10))
        let interval: TimeAmount = rate.map { .nanoseconds(Int64(1_000_000_000) * Int64(piece) / Int64($0)) } ?? .zero
        hold(context: context)
        writePieces(buffer, piece: piece, interval: interval, context: context) { [self] context in
            then?(context)
            if !closing && !hanging { release(context: context) } else { holding = false }
        }
    }

    private func writePieces(_ buffer: ByteBuffer, piece: Int, interval: TimeAmount, context: ChannelHandlerContext,
                             done: @escaping (ChannelHandlerContext) -> Void) {
        var rest = buffer
        guard let slice = rest.readSlice(length: min(piece, rest.readableBytes)) else { return done(context) }
        context.writeAndFlush(wrapOutboundOut(slice), promise: nil)
        guard rest.readableBytes > 0 else { return done(context) }
        context.eventLoop.assumeIsolated().scheduleTask(in: interval) { [self] in
            guard let context = self.context, !closing else { return }
            writePieces(rest, piece: piece, interval: interval, context: context, done: done)
        }
    }

    /// The reply as this session sends it: without enhanced codes when they are not offered.
    private func outgoing(_ reply: SMTPReply) -> SMTPReply {
        guard stripEnhanced, reply.enhanced != nil else { return reply }
        var plain = reply
        plain.enhanced = nil
        return plain
    }

    @inline(__always)
    private func count(_ reply: SMTPReply) {
        if capture != nil { recordStep(reply) }
        lastReplyCode = reply.code.value
        if metrics != nil { tally.countReply(code: reply.code.value, command: replyingTo) }
    }

    private func write(_ reply: SMTPReply, context: ChannelHandlerContext) {
        if (500...504).contains(reply.code.value) && !closing && !session.decided {
            // A command error (syntax, sequence, unknown, too long): a session
            // that makes too many is not an SMTP client worth answering.
            errors += 1
            if errors > maxErrors {
                notice("limit_exceeded", ["limit": "max_errors", "max": .stringConvertible(maxErrors)])
                outcome = .tooManyErrors
                lastReplyCode = SMTPReply.tooManyErrors.code.value
                if metrics != nil { tally.countReply(code: 421, command: replyingTo) }
                var buffer = context.channel.allocator.buffer(capacity: 64)
                buffer.writeSMTPReply(session.replies.adapt(.tooManyErrors))
                if journalRoom > 0 { journalReply(buffer) }
                context.write(wrapOutboundOut(buffer), promise: nil)
                close(context: context, outcome: .tooManyErrors)
                return
            }
        }
        count(reply)
        var buffer: ByteBuffer
        if reading, var kept = replyBuffer.take() {
            // Unique again once the last reply is written: clear() keeps its storage.
            kept.clear()
            buffer = kept
        } else {
            buffer = context.channel.allocator.buffer(capacity: 64)
        }
        buffer.writeSMTPReply(outgoing(reply))
        // Kept from a command's read on, never for the greeting alone.
        if reading && commands > 0 && !closing { replyBuffer = buffer }
        if journalRoom > 0 { journalReply(buffer) } else if journal != nil { journalDropped += 1 }
        if let console, console.conversation {
            for line in String(decoding: buffer.readableBytesView.dropLast(2), as: UTF8.self).split(separator: "\r\n") {
                console.converse(clientText, ">", String(line))
            }
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// How long a closing session's unread input is drained before the
    /// connection is closed whatever the client does.
    static let lingerTime: TimeAmount = .seconds(2)

    /// Without a clock, nothing would end lingering: close outright once the reply is out.
    private var lingers: Bool { clock != nil }

    private func close(context: ChannelHandlerContext, outcome: Outcome) {
        closing = true
        self.outcome = self.outcome ?? outcome
        // Once the reply is on the wire, close our side only (FIN), and keep
        // reading, discarding, until the client closes its side or the linger
        // time runs out. Closing outright with the client's pipelined commands
        // unread would send a reset, which can destroy the reply before the
        // client reads it.
        //
        // The linger time starts once every reply is out: a client still
        // reading a backlog of pipelined replies loses none of them. Until
        // then it has the idle timeout to read them.
        lingerDeadline = context.eventLoop.now + idleTimeout
        // SwiftNIO shuts the output down once the pending writes are out, and then says so
        // with ChannelEvent.outputClosed (outputShut, below). No promise: this runs for every
        // QUIT and every 421, and a promise's future costs about 3,000 instructions.
        context.flush()
        context.close(mode: .output, promise: nil)
        pending = nil
        // What the client still sends is read (and dropped) until it closes.
        resumeReads(context: context)
    }

    /// Our side is shut (the FIN is out): drain what the client still sends for the
    /// linger time. SwiftNIO says so even if shutdown(2) failed; a socket that failed
    /// is closed by its next read, or at the linger time's end.
    private func outputShut(context: ChannelHandlerContext) {
        guard lingers else { return context.close(promise: nil) }
        lingerDeadline = context.eventLoop.now + Self.lingerTime
    }

    private func countRecipient(_ action: SessionAction, acceptedBefore: Int) {
        if session.recipients.count > acceptedBefore {
            acceptedRecipients += 1
        } else if case .none = action {
        } else {
            refusedRecipients += 1
        }
    }

    // MARK: - Message content

    private func receiveContent(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        let limit = session.maxMessageSize
        contentSize += bytes.readableBytes
        if contentSize > limit {
            if !contentExceeded {
                contentExceeded = true
                headers = nil
                messageText = nil
                if let message = diskTransaction?.message {
                    message.abandon()
                    diskTransaction?.message = nil
                }
                notice("limit_exceeded", ["limit": "message_size", "max": .stringConvertible(limit)])
            }
            return
        }
        if logsMessages && !headersComplete { captureHeaders(bytes, context: context) }
        if let message = diskTransaction?.message {
            message.append(bytes)
            if message.isBacklogged && !readsPaused {
                // The disk is slower than the client: no more is read until it catches up.
                readsPaused = true
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
                message.onDrained = { [weak self] in
                    guard let self, let context = self.context, !self.holding else { return }
                    self.resumeReads(context: context)
                }
            }
        }
        if var text = messageText {
            messageText = nil  // one owner while it grows
            if let capture, !captureFull {
                // The whole message, within the capture budget.
                if capture.reserve(bytes.readableBytes, total: contentSize) {
                    captureReserved += bytes.readableBytes
                    text.writeImmutableBuffer(bytes)
                } else {
                    captureFull = true
                    capture.release(captureReserved)
                    captureReserved = 0
                    notice("limit_exceeded", ["limit": "capture_max_bytes", "max": .stringConvertible(capture.maxBytes)])
                    if !wantsMessage { return }
                    text.moveWriterIndex(to: min(text.writerIndex, text.readerIndex + dataTiming.messageLimit))
                    messageText = text
                }
            } else {
                let room = dataTiming.messageLimit - text.readableBytes
                var slice = bytes
                if room > 0, let part = slice.readSlice(length: min(room, slice.readableBytes)) { text.writeImmutableBuffer(part) }
            }
            messageText = text
        }
        if contentSize >= contentCheckAt {
            let action = session.receiveContent(bytes: contentSize, decider: &policy)
            if case .none = action { return }
            contentCheckAt = Int.max
            replyingTo = "content"
            perform(action, delivery: session.delivery, context: context)
        }
    }

    /// `127.0.0.1:40000`, for the conversation on stderr.
    private var clientText: String { remote.map(SMTPServer.describe) ?? "unknown" }

    /// `-v` and `-s`: the command line (an AUTH line without its initial response).
    private func showCommand(_ line: ByteBuffer, _ console: ConsoleOutput) {
        let text = Self.isAuthCommand(line) ? Self.redactedAuth(line) : String(decoding: line.readableBytesView, as: UTF8.self)
        console.converse(clientText, "<", text)
        guard !console.loggedCommands.isEmpty else { return }
        let verb = text.prefix { $0 != " " && $0 != "\t" }.uppercased()
        if console.loggedCommands.contains(verb) {
            logger.info("command", metadata: ["client": clientMetadata, "command": "\(text)"])
        }
    }

    /// MAIL's and each accepted RCPT's argument as the client wrote it, for a dump's `X-Mail-Args` and `X-Rcpt-Args`.
    private func noteArguments(_ command: SMTPCommand, _ action: SessionAction, line: ByteBuffer, acceptedBefore: Int) {
        func argument() -> String {
            let text = String(decoding: line.readableBytesView, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { return "" }
            return String(text[text.index(after: colon)...].drop { $0 == " " })
        }
        switch command {
        case .mail where action.reply?.code.isPositive == true && session.reversePath != nil:
            let transaction = diskTransaction ?? DiskTransaction()
            diskTransaction = transaction
            transaction.mailArgs = argument()
            transaction.rcptArgs.removeAll()
        case .rcpt where session.recipients.count > acceptedBefore:
            diskTransaction?.rcptArgs.append(argument())
        default:
            break
        }
    }

    /// A message starts (after `354`, or with a transaction's first BDAT chunk).
    private func beginMessage(context: ChannelHandlerContext) {
        abandonMessage()
        contentSize = 0
        contentExceeded = false
        headersComplete = false
        messageText = wantsMessage || capture != nil ? context.channel.allocator.buffer(capacity: 1024) : nil
        captureFull = false
        contentCheckAt = contentThreshold ?? Int.max
        if let disk { startDiskMessage(disk, context: context) }
    }

    /// The message's files are opened now (off the loop): its content streams to them as it comes.
    private func startDiskMessage(_ disk: DiskCapture, context: ChannelHandlerContext) {
        let transaction = diskTransaction ?? DiskTransaction()
        diskTransaction = transaction
        let queueID = QueueID.next()
        transaction.queueID = queueID
        let kept = session.deliveredRecipients.map(\.0)
        let envelope = DiskEnvelope(
            queueID: queueID, clientIP: clientIP, proto: lmtp ? "LMTP" : session.sessionSnapshot.extended ? "ESMTP" : "SMTP",
            helo: session.heloName, sender: session.reversePath.map { $0 == .null ? "" : $0.bareAddress } ?? "",
            mailArgs: transaction.mailArgs, rcptArgs: transaction.rcptArgs, recipients: kept.map(\.bareAddress),
            listener: listenerName)
        transaction.message = DiskMessage(capture: disk, envelope: envelope, eventLoop: context.eventLoop)
    }

    /// What was kept of a message that will not complete goes: its capture budget too.
    private func abandonMessage() {
        headers = nil
        messageText = nil
        if let message = diskTransaction?.message {
            message.abandon()
            diskTransaction?.message = nil
            diskTransaction?.queueID = nil
        }
        if captureReserved > 0 {
            capture?.release(captureReserved)
            captureReserved = 0
        }
    }

    /// The octets of a BDAT chunk are in: its answer, or the message's after the last.
    private func finishChunk(context: ChannelHandlerContext) {
        dataDeadline = .distantFuture
        if chunkLast && !session.isDroppingChunk {
            replyingTo = "end_of_data"
            return finishMessage(context: context, chunked: true)
        }
        replyingTo = "BDAT"
        let action = session.receiveEndOfChunk(exceededLimit: contentExceeded, queueID: "", decider: &policy)
        if !session.isReceivingData && session.chunkedOctets == nil { abandonMessage() }
        perform(action, delivery: session.delivery, context: context)
        if closeAfterMessage && !closing {
            outcome = .shutdown
            perform(.replyAndClose(session.replies.shuttingDown), context: context)
        }
    }

    /// Keeps the header block, up to the cap, for the `message` log line.
    private func captureHeaders(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        var captured = headers ?? context.channel.allocator.buffer(capacity: min(headerLogLimit, 4096))
        let searchFrom = max(0, captured.readableBytes - 3)
        let room = headerLogLimit - captured.readableBytes
        if room > 0 {
            var slice = bytes
            if let part = slice.readSlice(length: min(room, slice.readableBytes)) {
                captured.writeImmutableBuffer(part)
            }
        }
        // The header block ends at the first empty line: LF then LF, or LF then
        // CR LF (bare LF line ends are common enough to honour, and a body
        // must never be logged). A message that starts with an empty line has none.
        let view = captured.readableBytesView
        if view.first == UInt8(ascii: "\n") || view.starts(with: [13, 10]) {
            captured.clear()
            headersComplete = true
        } else {
            var index = view.startIndex + searchFrom
            while index < view.endIndex {
                if view[index] == 10 {
                    let next = index + 1
                    if next < view.endIndex && (view[next] == 10
                        || (view[next] == 13 && next + 1 < view.endIndex && view[next + 1] == 10)) {
                        captured.moveWriterIndex(to: captured.readerIndex + (index + 1 - view.startIndex))
                        headersComplete = true
                        break
                    }
                }
                index += 1
            }
        }
        if captured.readableBytes >= headerLogLimit { headersComplete = true }
        headers = captured
    }

    private func finishMessage(context: ChannelHandlerContext, chunked: Bool = false) {
        dataDeadline = .distantFuture
        if let console {
            console.message()
            console.converse(clientText, "<", ".")
            if console.loggedCommands.contains(".") { logger.info("command", metadata: ["client": clientMetadata, "command": "."]) }
        }
        let queueID = diskTransaction?.queueID ?? QueueID.next()
        if journalRoom > 0 { note(.note, "message \(contentSize) bytes, queue id \(queueID)") }
        // The envelope, read before the state machine closes the transaction.
        let recipients = session.recipients
        let sender = session.reversePath
        let envelope = capture == nil ? nil : (
            mail: session.mailParameters.map(MailParameterText.init),
            recipients: session.deliveredRecipients.map { recipient, parameters in
                CapturedMail.Recipient(address: recipient.bareAddress, parameters: parameters.map(MailParameterText.init))
            })
        let text = messageText
        messageText = nil
        let message = wantsMessage ? text.map { text in
            String(decoding: text.readableBytesView.prefix(dataTiming.messageLimit), as: UTF8.self)
        } : nil
        let toDisk = diskTransaction?.message
        let hasRecipients = toDisk == nil || !session.deliveredRecipients.isEmpty
        // LMTP: captured mail keeps the recipients whose own reply took the message.
        let lmtpRecipients = lmtp && capture != nil ? session.recipients.enumerated().map { index, recipient in
            CapturedMail.Recipient(address: recipient.bareAddress,
                                   parameters: session.parameters(ofRecipient: index).map(MailParameterText.init))
        } : []
        let action = chunked
            ? session.receiveEndOfChunk(exceededLimit: contentExceeded, storageFull: captureFull, queueID: queueID,
                                        message: message, decider: &policy)
            : session.receiveEndOfData(size: contentSize, exceededLimit: contentExceeded, storageFull: captureFull,
                                       queueID: queueID, message: message, decider: &policy)
        // A rule's `deliver` keeps or drops the message whatever the client was told.
        let keep = session.deliver ?? (action.reply?.code.isPositive == true)
        let captured = lmtp ? envelope.map { kept in
            (mail: kept.mail, recipients: zip(lmtpRecipients, session.lmtpAccepted).filter(\.1).map(\.0))
        } : envelope
        let delivery = session.delivery
        // No closure for the common case: one allocated per message shows in the profile.
        guard let toDisk else {
            return completeMessage(action, keep: keep, delivery: delivery, queueID: queueID, text: text, captured: captured,
                                   sender: sender, recipients: recipients, context: context)
        }
        diskTransaction?.message = nil
        diskTransaction?.queueID = nil
        guard keep, hasRecipients, !captureFull, !contentExceeded else {
            toDisk.abandon()
            return completeMessage(action, keep: keep, delivery: delivery, queueID: queueID, text: text, captured: captured,
                                   sender: sender, recipients: recipients, context: context)
        }
        // On disk (fsynced, in place) before the reply goes: input waits meanwhile.
        hold(context: context)
        toDisk.commit().assumeIsolated().whenComplete { [self] result in
            guard let context = self.context, !closing else { return }
            var action = action
            var keep = keep
            switch result {
            case .success(let paths):
                if journalRoom > 0 { note(.note, "written to \(paths.joined(separator: " "))") }
            case .failure(let error):
                notice("disk_write_failed", ["queue_id": "\(queueID)", "error": "\(error)"])
                if journalRoom > 0 { note(.note, "not written: \(error)") }
                keep = false
                if action.reply?.code.isPositive == true { action = .reply(session.replies.adapt(.queueFileWriteError)) }
            }
            holding = false
            completeMessage(action, keep: keep, delivery: delivery, queueID: queueID, text: text, captured: captured,
                            sender: sender, recipients: recipients, context: context)
            if !holding { release(context: context) }
        }
    }

    /// The message's answer, once it is where it goes: captured mail, counters, the log line, the reply.
    /// Inlined: its arguments cost more to pass than its call saves.
    @inline(__always)
    private func completeMessage(
        _ action: SessionAction, keep: Bool, delivery: SMTPDelivery, queueID: String, text: ByteBuffer?,
        captured: (mail: [MailParameterText], recipients: [CapturedMail.Recipient])?,
        sender: ReversePath?, recipients: [ForwardPath], context: ChannelHandlerContext
    ) {
        let reply = action.reply
        if let capture {
            if let text, let captured, !captured.recipients.isEmpty, !captureFull, !contentExceeded, keep {
                var mail = CapturedMail(
                    queueID: queueID, receivedAt: Self.wallClock(),
                    from: sender.map { $0 == .null ? "<>" : $0.bareAddress } ?? "<>", mailParameters: captured.mail,
                    recipients: captured.recipients,
                    clientIP: clientIP, helo: session.heloName ?? "", listener: listenerName,
                    message: Array(text.readableBytesView))
                mail.transaction = extras?.transactionSteps ?? []
                mail.authUser = session.authenticatedUser
                mail.tls = tlsVersion.map { CapturedMail.TLS(version: $0, cipher: tlsCipher, serverName: tlsServerName) }
                if let reply {
                    mail.transaction.append(CapturedMail.Step(command: ".", reply: Self.text(of: outgoing(reply)),
                                                              decision: decisionText()))
                }
                capture.add(mail)
            } else if captureFull {
                capture.noteRefused()
            }
            capture.release(captureReserved)
            captureReserved = 0
        }
        tally.countMessage(contentExceeded ? .tooBig : (reply?.code.isPositive == true ? .accepted : .refused))
        // A 2xx is an accepted message, whatever follows it (a rule's reply_and_close).
        if let reply, reply.code.isPositive {
            messages += 1
            stopLimits?.messageAccepted()
            if logsMessages {
                logMessage(queueID: queueID, sender: sender, recipients: recipients)
            }
        }
        headers = nil
        perform(action, delivery: delivery, context: context)
        if let metrics {
            metrics.add(&tally)
            tally.reset()
        }
        flushRecords()
        if closeAfterMessage && !closing {
            outcome = .shutdown
            perform(.replyAndClose(session.replies.shuttingDown), context: context)
        }
    }

    private func logMessage(queueID: String, sender: ReversePath?, recipients: [ForwardPath]) {
        let headerText = headers.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? ""
        var metadata: Logger.Metadata = [
            "client": clientMetadata,
            "helo": "\(session.heloName ?? "")",
            "mail_from": "\(sender?.description ?? "")",
            "rcpt": .array(recipients.map { .string($0.description) }),
            "size": .stringConvertible(contentSize),
            "queue_id": "\(queueID)",
            "headers": "\(headerText)",
        ]
        if (headers?.readableBytes ?? 0) >= headerLogLimit { metadata["headers_truncated"] = "true" }
        logger.info("message", metadata: metadata)
    }
}

extension SessionAction {
    /// The reply this action sends, if any.
    var reply: SMTPReply? {
        switch self {
        case .reply(let reply), .replyAndClose(let reply), .startData(let reply), .startTLS(let reply), .breakTLS(let reply, _): reply
        // LMTP's replies: the message was taken if any recipient's was.
        case .replies(let list): list.first { $0.code.isPositive } ?? list.first
        case .none, .disconnect, .reset, .hang, .receiveChunk: nil
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
