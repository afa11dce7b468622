import ArgumentParser
import Foundation
import Logging
import Metrics
import ModeSources
import NIOCore
import NIOPosix
import Prometheus
import SMTPProtocol
import ServiceLifecycle
import SinkholeAWS
import SinkholeConfig
import SinkholeOps
import SinkholePolicy
import SinkholeServer
import SinkholeAuth
import SinkholeTLS
import Synchronization

struct Sinkhole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sinkhole",
        abstract: "An SMTP server that misbehaves on purpose: defer, bounce, accept or greylist on demand.",
        discussion: """
        Every option has an environment variable SINKHOLE_<NAME> (--max-message-size is \
        SINKHOLE_MAX_MESSAGE_SIZE; lists are comma-separated) and a key of the same name in the \
        config file. Precedence: flags, then environment, then config file, then defaults.

        Modes: defer (421 4.3.2 at RCPT TO, then close), bounce (550 5.1.1), accept (250, body \
        discarded), accept-log (accept, and one JSON log line per message with envelope and \
        headers), greylist (421 to an unseen client IP, accept its retry within the window).

        Misbehaving on demand (docs/faults.md): rules (--rules, rules: in the config file, James \
        behaviour JSON accepted verbatim), smtp-sink's switches (--hard-reject, --soft-reject, \
        --disconnect, --close, --delay, --data-delay, --data-read-delay, --abort-data-after), \
        BadSMTP's client triggers (rcpt550@..., EHLO nopipelining-...), listener profiles \
        (--listen 127.0.0.1:2526,greeting-delay=30s) and greylisting as Postgrey, SQLgrey or \
        milter-greylist do it (--greylist-preset).

        Durations take a unit: 500ms, 30s, 5m, 2h, 2d (a bare number is seconds). Sizes take K, M or G.
        """,
        subcommands: [Healthcheck.self]
    )

    @Option(name: .customLong("config"), help: ArgumentHelp(
        "YAML or JSON config file whose keys are the option names. (env: SINKHOLE_CONFIG)",
        valueName: "path"))
    var config: String?

    @Option(name: .customLong("listen"), help: ArgumentHelp(
        "Address to listen on; repeat for more. Port 0 picks a free port. Options may follow: 127.0.0.1:2526,greeting-delay=30s (also drop-after=, drop-at-connect, command-delay=, mode=, rules=, name=, personality=, tls, starttls, no-starttls, tls-profile=). (default: 127.0.0.1:2525)",
        valueName: "host:port[,option...]"))
    var listen: [String] = []

    @Option(name: .customLong("http-listen"), help: ArgumentHelp(
        "Address of the operations HTTP listener: GET /healthz, /readyz and Prometheus /metrics; none turns it off. (default: 127.0.0.1:8025)",
        valueName: "host:port|none"))
    var httpListen: String?

    @Option(name: .customLong("james-listen"), help: ArgumentHelp(
        "A second HTTP listener with Apache James's mock-server routes only (/smtpBehaviors, /smtpMails, ...); James uses port 8000. (default: none)",
        valueName: "host:port|none"))
    var jamesListen: String?

    @Option(name: .customLong("api-token"), help: ArgumentHelp(
        "Bearer token every control route needs (health, readiness and metrics stay open); prefer SINKHOLE_API_TOKEN or --api-token-file, which ps does not show. (default: none)",
        valueName: "token"))
    var apiToken: String?

    @Option(name: .customLong("api-token-file"), help: ArgumentHelp(
        "File holding the bearer token (surrounding white space ignored). (default: none)", valueName: "path"))
    var apiTokenFile: String?

    @Flag(name: .customLong("api-read-open"), help: ArgumentHelp(
        "Let read-only (GET) control routes through without the token. (env: SINKHOLE_API_READ_OPEN=true)"))
    var apiReadOpen = false

    @Flag(name: .customLong("api-insecure"), help: ArgumentHelp(
        "Serve the control API on a non-loopback address without a token (logged as a warning). (env: SINKHOLE_API_INSECURE=true)"))
    var apiInsecure = false

    @Option(name: .customLong("capture"), help: ArgumentHelp(
        "memory: keep accepted messages for the API (/smtpMails); off: discard bodies. (default: off)", valueName: "memory|off"))
    var capture: String?

    @Option(name: .customLong("capture-max-messages"), help: ArgumentHelp(
        "Most messages capture keeps; the oldest is evicted first. (default: 1000)", valueName: "n"))
    var captureMaxMessages: String?

    @Option(name: .customLong("capture-max-bytes"), help: ArgumentHelp(
        "Most bytes capture keeps (and as many for messages being received); a bigger message gets 452 4.3.1. (default: 32M)",
        valueName: "size"))
    var captureMaxBytes: String?

    @Option(name: .customLong("maildir"), help: ArgumentHelp(
        "Write each accepted message into this Maildir (tmp/, then new/), fsynced before its 250.", valueName: "dir"))
    var maildir: String?

    @Option(name: .customLong("dump-each"), help: ArgumentHelp(
        "Write each accepted message to its own file in smtp-sink's dump format (its -d): the strftime template plus a random hexadecimal suffix; directories are created.",
        valueName: "template"))
    var dumpEach: String?

    @Option(name: .customLong("dump-append"), help: ArgumentHelp(
        "Append each accepted message, in smtp-sink's dump format, to the file the strftime template names (its -D).",
        valueName: "template"))
    var dumpAppend: String?

    @Option(name: .customLong("dump-prefix"), help: ArgumentHelp(
        "Written before each dumped message, with C escapes (\\n, \\t, \\ddd…), as smtp-sink's -S.", valueName: "string"))
    var dumpPrefix: String?

    @Option(name: .customLong("journal-max-sessions"), help: ArgumentHelp(
        "Finished sessions whose transcripts the journal keeps for the API (/api/v1/sessions, /api/v1/verify); the oldest is forgotten first; 0: none. (default: 1000)",
        valueName: "n"))
    var journalMaxSessions: String?

    @Option(name: .customLong("journal-max-lines"), help: ArgumentHelp(
        "Transcript lines kept of each session (commands, replies, decisions; never message content). (default: 200)",
        valueName: "n"))
    var journalMaxLines: String?

    @Flag(name: .customLong("test-clock"), help: ArgumentHelp(
        "Let POST /api/v1/clock move the time greylist windows and delays, the auto-whitelist and rule lifetimes (ttl) see; wire delays and timeouts stay real; for tests only. (env: SINKHOLE_TEST_CLOCK=true)"))
    var testClock = false

    @Flag(name: .customLong("starttls"), help: ArgumentHelp(
        "Offer STARTTLS (RFC 3207) on the plain listeners, with a certificate generated at start unless --tls-cert is given; on whenever --tls-cert is. (env: SINKHOLE_STARTTLS=true)"))
    var startTLS = false

    @Flag(name: .customLong("no-starttls"), help: ArgumentHelp(
        "Withhold STARTTLS, even with --tls-cert: not advertised, and answered 502 5.5.1. (env: SINKHOLE_NO_STARTTLS=true)"))
    var noStartTLS = false

    @Option(name: .customLong("tls-listen"), help: ArgumentHelp(
        "An implicit-TLS listener (RFC 8314, as port 465): TLS from the first byte; repeat for more; listener options may follow as for --listen. (default: none)",
        valueName: "host:port[,option...]"))
    var tlsListen: [String] = []

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp(
        "The certificate chain (PEM), leaf first; read again on SIGHUP or when the file changes, without dropping sessions. Needs --tls-key. (default: one generated at start)",
        valueName: "path"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp(
        "The private key of --tls-cert (PEM).", valueName: "path"))
    var tlsKey: String?

    @Option(name: .customLong("tls-profile"), help: ArgumentHelp(
        "The certificate TLS presents: valid, self-signed, expired, not-yet-valid, wrong-host, untrusted-ca or weak-key; each is generated at start; a listener's tls-profile= overrides it. (default: valid)",
        valueName: "name"))
    var tlsProfile: String?

    @Option(name: .customLong("tls-write-ca"), help: ArgumentHelp(
        "Write the generated CA certificate (PEM) here at start, for the client under test to trust. (default: not written)",
        valueName: "path"))
    var tlsWriteCA: String?

    @Flag(name: .customLong("require-tls"), help: ArgumentHelp(
        "Answer MAIL before STARTTLS 530 5.7.0 Must issue a STARTTLS command first. (env: SINKHOLE_REQUIRE_TLS=true)"))
    var requireTLS = false

    @Flag(name: .customLong("auth"), help: ArgumentHelp(
        "Offer AUTH (RFC 4954) with --auth-mechanisms; on whenever --auth-users is given. Without --auth-users a user name containing badauth fails and any other succeeds (BadSMTP's rule). (env: SINKHOLE_AUTH=true)"))
    var auth = false

    @Flag(name: .customLong("no-auth"), help: ArgumentHelp(
        "Withhold AUTH, even with --auth-users: not advertised, and answered 502 5.5.1. (env: SINKHOLE_NO_AUTH=true)"))
    var noAuth = false

    @Option(name: .customLong("auth-mechanisms"), help: ArgumentHelp(
        "The mechanisms AUTH offers, comma-separated: PLAIN, LOGIN, CRAM-MD5, CRAM-SHA256, XOAUTH2, OAUTHBEARER. (default: all six)",
        valueName: "list"))
    var authMechanisms: String?

    @Option(name: .customLong("auth-users"), help: ArgumentHelp(
        "Real accounts, user:password per line (# comments): each mechanism checks the secret, CRAM against its HMAC, the token mechanisms against the token. (default: BadSMTP's rule)",
        valueName: "path"))
    var authUsers: String?

    @Flag(name: .customLong("require-auth"), help: ArgumentHelp(
        "Answer MAIL before a successful AUTH 530 5.7.0 Authentication required. (env: SINKHOLE_REQUIRE_AUTH=true)"))
    var requireAuth = false

    @Option(name: .customLong("auth-over-tls-only"), help: ArgumentHelp(
        "Offer and take AUTH only on an encrypted connection: auto (on listeners that are not loopback), true (everywhere) or false. Before TLS, AUTH gets 538 5.7.11. (default: auto)",
        valueName: "auto|true|false"))
    var authOverTLSOnly: String?

    @Flag(name: .customLong("no-pipelining"), help: ArgumentHelp(
        "Do not announce PIPELINING (smtp-sink's -p). (env: SINKHOLE_NO_PIPELINING=true)"))
    var noPipelining = false

    @Flag(name: .customLong("no-8bitmime"), help: ArgumentHelp(
        "Do not announce 8BITMIME (smtp-sink's -8). (env: SINKHOLE_NO_8BITMIME=true)"))
    var no8BitMIME = false

    @Flag(name: .customLong("no-smtputf8"), help: ArgumentHelp(
        "Do not announce SMTPUTF8. (env: SINKHOLE_NO_SMTPUTF8=true)"))
    var noSMTPUTF8 = false

    @Flag(name: .customLong("no-dsn"), help: ArgumentHelp(
        "Do not announce DSN (smtp-sink's -N): RET, ENVID, NOTIFY and ORCPT get 555 5.5.4. (env: SINKHOLE_NO_DSN=true)"))
    var noDSN = false

    @Flag(name: .customLong("no-chunking"), help: ArgumentHelp(
        "Do not announce CHUNKING and BINARYMIME: BDAT gets 502 5.5.1 once its chunk is read. (env: SINKHOLE_NO_CHUNKING=true)"))
    var noChunking = false

    @Flag(name: .customLong("stdio"), help: ArgumentHelp(
        "Serve one SMTP session on standard input and output, as inetd runs a server (and swaks --pipe): no listener, the log on stderr, exit when the session ends. (env: SINKHOLE_STDIO=true)"))
    var stdio = false

    @Option(name: .customLong("listen-backlog"), help: ArgumentHelp(
        "listen(2)'s queue of connections not yet accepted, smtp-sink's backlog argument. (default: 4096)", valueName: "n"))
    var listenBacklog: String?

    @Option(name: .customLong("socket-mode"), help: ArgumentHelp(
        "The file mode of UNIX-domain listeners (--listen unix:/path), in octal. (default: 0666)", valueName: "mode"))
    var socketMode: String?

    @Flag(name: .customLong("ipv4-only"), help: ArgumentHelp(
        "Listen on IPv4 only (smtp-sink's -4): an IPv6 listen address is an error. (env: SINKHOLE_IPV4_ONLY=true)"))
    var ipv4Only = false

    @Flag(name: .customLong("ipv6-only"), help: ArgumentHelp(
        "Listen on IPv6 only (smtp-sink's -6): an IPv4 listen address is an error, and [::] takes no IPv4 clients. (env: SINKHOLE_IPV6_ONLY=true)"))
    var ipv6Only = false

    @Flag(name: .customLong("counters"), help: ArgumentHelp(
        "Show running counters on stderr, as smtp-sink's -c: sess=N quit=N mesg=N after each session, QUIT and message. (env: SINKHOLE_COUNTERS=true)"))
    var counters = false

    @Flag(name: .customLong("show-conversation"), help: ArgumentHelp(
        "Show every session's commands and replies on stderr, as smtp-sink's -v (AUTH secrets left out). (env: SINKHOLE_SHOW_CONVERSATION=true)"))
    var showConversation = false

    @Option(name: .customLong("syslog-commands"), help: ArgumentHelp(
        "Log these commands as command lines, as smtp-sink's -s: CONNECT, HELO, EHLO, LHLO, MAIL, RCPT, VRFY, DATA, ., RSET, NOOP, QUIT, ... by commas or spaces.",
        valueName: "cmds"))
    var syslogCommands: String?

    @Option(name: .customLong("tcp-window"), help: ArgumentHelp(
        "The TCP receive window of each connection, 1 to 65535 bytes, as smtp-sink's -T (for clients with broken window scaling, or with --data-read-delay to test a client's write waits).",
        valueName: "bytes"))
    var tcpWindow: String?

    @Flag(name: .customLong("lmtp"), help: ArgumentHelp(
        "Speak LMTP (RFC 2033) instead of SMTP on every listener, as smtp-sink's -L: LHLO, and one reply per recipient after the message; a listener's lmtp option does it for one. (env: SINKHOLE_LMTP=true)"))
    var lmtp = false

    @Option(name: .customLong("xclient-from"), help: ArgumentHelp(
        "Networks that may send Postfix's XCLIENT and XFORWARD, comma-separated, or none; others get 550 5.7.0. (default: 127.0.0.0/8,::1/128)",
        valueName: "cidr,..."))
    var xclientFrom: [String] = []

    @Flag(name: .customLong("no-xclient"), help: ArgumentHelp(
        "Do not offer XCLIENT (smtp-sink's -C). (env: SINKHOLE_NO_XCLIENT=true)"))
    var noXCLIENT = false

    @Flag(name: .customLong("no-xforward"), help: ArgumentHelp(
        "Do not offer XFORWARD (smtp-sink's -F). (env: SINKHOLE_NO_XFORWARD=true)"))
    var noXFORWARD = false

    @Flag(name: .customLong("no-enhancedstatuscodes"), help: ArgumentHelp(
        "Do not announce ENHANCEDSTATUSCODES, and send no enhanced codes (smtp-sink's -E, which still sends them). (env: SINKHOLE_NO_ENHANCEDSTATUSCODES=true)"))
    var noEnhancedStatusCodes = false

    @Flag(name: .customLong("no-esmtp"), help: ArgumentHelp(
        "HELO only (smtp-sink's -e): the greeting does not say ESMTP, and EHLO is an unknown command (500 5.5.2). (env: SINKHOLE_NO_ESMTP=true)"))
    var noESMTP = false

    @Option(name: .customLong("greeting"), help: ArgumentHelp(
        "The greeting's text: 220 TEXT, whatever the personality. (default: <hostname> ESMTP sinkhole)", valueName: "text"))
    var greeting: String?

    @Flag(name: .customLong("pix-greeting"), help: ArgumentHelp(
        "Greet as through a Cisco PIX's SMTP fixup (smtp-sink's -P): 220 ********, and no ESMTP (EHLO is unknown). (env: SINKHOLE_PIX_GREETING=true)"))
    var pixGreeting = false

    @Option(name: .customLong("stop-after-messages"), help: ArgumentHelp(
        "Stop, as on SIGTERM, once n messages were accepted (smtp-sink's -M); exit code 0. (default: never)", valueName: "n"))
    var stopAfterMessages: String?

    @Option(name: .customLong("stop-after-sessions"), help: ArgumentHelp(
        "Stop, as on SIGTERM, once n sessions ended (smtp-sink's -n); exit code 0. (default: never)", valueName: "n"))
    var stopAfterSessions: String?

    @Option(name: .customLong("hostname"), help: ArgumentHelp(
        "Name in the greeting and the EHLO reply. (default: the system host name)", valueName: "name"))
    var hostname: String?

    @Option(name: .customLong("personality"), help: ArgumentHelp(
        "Whose words the normal replies are in: sinkhole (250 2.1.0 OK) or badsmtp (BadSMTP's 250 OK, 221 Bye, 503 texts and greeting). (default: sinkhole)",
        valueName: "name"))
    var personality: String?

    @Option(name: .customLong("mode"), help: ArgumentHelp(
        "Fixed mode: defer, bounce, accept, accept-log or greylist. (default: defer)", valueName: "mode"))
    var mode: String?

    @Option(name: .customLong("mode-file"), help: ArgumentHelp(
        "File holding the mode's name, re-read every TTL; editing it switches the mode. Takes precedence over --mode.",
        valueName: "path"))
    var modeFile: String?

    @Option(name: .customLong("mode-source"), help: ArgumentHelp(
        "Where the mode is read from: ssm:PARAMETER (AWS SSM Parameter Store), file:PATH, env:VARIABLE or static:MODE. Takes precedence over --mode-file and --mode.",
        valueName: "source"))
    var modeSource: String?

    @Flag(name: .customLong("ssm-with-decryption"), help: ArgumentHelp(
        "Ask SSM to decrypt the parameter (for a SecureString; needs kms:Decrypt). (env: SINKHOLE_SSM_WITH_DECRYPTION=true)"))
    var ssmWithDecryption = false

    @Option(name: .customLong("aws-region"), help: ArgumentHelp(
        "Region of the SSM parameter. As a flag it wins; otherwise AWS_REGION, then AWS_DEFAULT_REGION, then this setting.",
        valueName: "region"))
    var awsRegion: String?

    @Option(name: .customLong("aws-connect-timeout"), help: ArgumentHelp(
        "Connect timeout of calls to AWS (SSM, credential endpoints). (default: 2s)", valueName: "duration"))
    var awsConnectTimeout: String?

    @Option(name: .customLong("aws-request-timeout"), help: ArgumentHelp(
        "Whole-request timeout of calls to AWS. (default: 5s)", valueName: "duration"))
    var awsRequestTimeout: String?

    @Option(name: .customLong("mode-cache-ttl"), help: ArgumentHelp(
        "How long a mode read from its source is used before it is read again. (default: 30s)",
        valueName: "duration"))
    var modeCacheTTL: String?

    @Option(name: .customLong("defer-reply"), help: ArgumentHelp(
        "defer mode's reply to RCPT TO, a 4xx. (default: \"421 4.3.2 Service temporarily unavailable\")",
        valueName: "reply"))
    var deferReply: String?

    @Option(name: .customLong("bounce-reply"), help: ArgumentHelp(
        "bounce mode's reply to RCPT TO, a 5xx. (default: \"550 5.1.1 User unknown\")", valueName: "reply"))
    var bounceReply: String?

    @Option(name: .customLong("accept-reply"), help: ArgumentHelp(
        "accept modes' reply to RCPT TO, a 2xx. (default: \"250 2.1.5 OK\")", valueName: "reply"))
    var acceptReply: String?

    @Option(name: .customLong("greylist-reply"), help: ArgumentHelp(
        "greylist mode's reply to an unseen client, a 4xx. (default: \"421 4.3.2 Greylisted, try again later\")",
        valueName: "reply"))
    var greylistReply: String?

    @Option(name: .customLong("greylist-window"), help: ArgumentHelp(
        "How long a greylisted client's retry is let through after its last attempt. (default: 30m)",
        valueName: "duration"))
    var greylistWindow: String?

    @Option(name: .customLong("greylist-max-entries"), help: ArgumentHelp(
        "Most client IPs the greylist remembers; the least recently seen is forgotten first. (default: 100000)",
        valueName: "n"))
    var greylistMaxEntries: String?

    @Option(name: .customLong("greylist-preset"), help: ArgumentHelp(
        "Greylist as postgrey, sqlgrey or milter-greylist does: its key, delay, windows, auto-whitelist and exact reply. The greylist options below override it.",
        valueName: "name"))
    var greylistPreset: String?

    @Option(name: .customLong("greylist-key"), help: ArgumentHelp(
        "What a greylist entry is keyed on: ip (the client IP), net (its /24 or /64) or triplet (net, sender, recipient). (default: ip)",
        valueName: "key"))
    var greylistKey: String?

    @Option(name: .customLong("greylist-delay"), help: ArgumentHelp(
        "A retry sooner than this after the first attempt is still deferred. (default: 0)", valueName: "duration"))
    var greylistDelay: String?

    @Option(name: .customLong("greylist-retry-window"), help: ArgumentHelp(
        "A first retry later than this after the first attempt is greylisted anew. (default: --greylist-window)",
        valueName: "duration"))
    var greylistRetryWindow: String?

    @Option(name: .customLong("greylist-max-age"), help: ArgumentHelp(
        "A passed entry not seen for this long is forgotten. (default: --greylist-window)", valueName: "duration"))
    var greylistMaxAge: String?

    @Option(name: .customLong("greylist-auto-whitelist"), help: ArgumentHelp(
        "After this many passes a client IP skips greylisting; 0 turns it off. (default: 0)", valueName: "n"))
    var greylistAutoWhitelist: String?

    @Option(name: .customLong("greylist-answer"), help: ArgumentHelp(
        "Where a deferral is answered: rcpt (each RCPT, session kept) or close (the reply, then close). (default: a 421 reply closes, others keep the session)",
        valueName: "rcpt|close"))
    var greylistAnswer: String?

    @Option(name: .customLong("rules"), help: ArgumentHelp(
        "YAML or JSON file of rules (James behaviour JSON accepted), checked after the config file's rules:.",
        valueName: "path"))
    var rules: String?

    @Option(name: .customLong("client-triggers"), help: ArgumentHelp(
        "BadSMTP's client triggers: mail550@..., rcpt452_4.2.2@..., data554@..., helo421.x, EHLO keywords (nopipelining, no8bit, size<N>, dlay<N>, ...), VRFY exists/unknown/ambiguous. (default: on)",
        valueName: "on|off"))
    var clientTriggers: String?

    @Option(name: .customLong("hard-reject"), help: ArgumentHelp(
        "Reject these commands with --hard-reply (smtp-sink -f); also withdraws PIPELINING. CMDS: CONNECT, HELO, EHLO, LHLO, MAIL, RCPT, VRFY, DATA, ., RSET, NOOP, QUIT, by commas or spaces.",
        valueName: "cmds"))
    var hardReject: [String] = []

    @Option(name: .customLong("hard-reply"), help: ArgumentHelp(
        "The reply of --hard-reject, a 5xx. (default: \"500 5.3.0 Error: command failed\")", valueName: "reply"))
    var hardReply: String?

    @Option(name: .customLong("soft-reject"), help: ArgumentHelp(
        "Reject these commands with --soft-reply (smtp-sink -r); also withdraws PIPELINING.", valueName: "cmds"))
    var softReject: [String] = []

    @Option(name: .customLong("soft-reply"), help: ArgumentHelp(
        "The reply of --soft-reject, a 4xx. (default: \"450 4.3.0 Error: command failed\")", valueName: "reply"))
    var softReply: String?

    @Option(name: .customLong("disconnect"), help: ArgumentHelp(
        "Close the connection without a reply at these commands (smtp-sink -q).", valueName: "cmds"))
    var disconnect: [String] = []

    @Option(name: .customLong("close"), help: ArgumentHelp(
        "Answer these commands 421 4.0.0 Server closing connection, then close (smtp-sink -Q).", valueName: "cmds"))
    var close: [String] = []

    @Option(name: .customLong("delay"), help: ArgumentHelp(
        "Wait SECONDS before answering CMD; with ODDS (1-99), a random multiple of it as smtp-sink's dice roll (smtp-sink -W). Repeat for more.",
        valueName: "cmd:seconds[:odds]"))
    var delay: [String] = []

    @Option(name: .customLong("data-delay"), help: ArgumentHelp(
        "Wait this long before answering DATA (smtp-sink -w).", valueName: "duration"))
    var dataDelay: String?

    @Option(name: .customLong("data-read-delay"), help: ArgumentHelp(
        "After 354, wait this long before reading the message (smtp-sink -H).", valueName: "duration"))
    var dataReadDelay: String?

    @Option(name: .customLong("abort-data-after"), help: ArgumentHelp(
        "This long after 354, answer 550 This violates SMTP and close (smtp-sink -A).", valueName: "duration"))
    var abortDataAfter: String?

    @Flag(name: .customLong("badsmtp-ports"), help: ArgumentHelp(
        "Also listen on BadSMTP's bands on 127.0.0.1: greeting delays on 25200-25209, drops on 25600-25609. (env: SINKHOLE_BADSMTP_PORTS=true)"))
    var badsmtpPorts = false

    @Option(name: .customLong("rule-state-max-entries"), help: ArgumentHelp(
        "Most keys each counted rule remembers (count_per, sequences); the least recently used is forgotten first. (default: 100000)",
        valueName: "n"))
    var ruleStateMaxEntries: String?

    @Option(name: .customLong("rule-message-limit"), help: ArgumentHelp(
        "Most message bytes kept for rules that read the message (header: fields, the final dot's argument). (default: 1M)",
        valueName: "size"))
    var ruleMessageLimit: String?

    @Option(name: .customLong("seed"), help: ArgumentHelp(
        "Seed for every random choice (delays, probabilities), so a run replays identically. (default: random)",
        valueName: "n"))
    var seed: String?

    @Option(name: .customLong("max-line-length"), help: ArgumentHelp(
        "Longest command line in bytes; longer ones get 500 5.5.6. (default: 2048)", valueName: "bytes"))
    var maxLineLength: String?

    @Option(name: .customLong("max-message-size"), help: ArgumentHelp(
        "Largest message, advertised as SIZE; larger ones get 552 5.3.4. (default: 25M)", valueName: "size"))
    var maxMessageSize: String?

    @Option(name: .customLong("max-recipients"), help: ArgumentHelp(
        "Most recipients per message; the next gets 452 4.5.3. (default: 1000)", valueName: "n"))
    var maxRecipients: String?

    @Option(name: .customLong("max-connections"), help: ArgumentHelp(
        "Most connections at once; the next gets 421 4.7.0 and is closed. (default: 10000)", valueName: "n"))
    var maxConnections: String?

    @Option(name: .customLong("max-errors"), help: ArgumentHelp(
        "Command errors (syntax, sequence, unknown, too long) a session may make; the next gets 421 4.7.0 Too many errors. (default: 20)",
        valueName: "n"))
    var maxErrors: String?

    @Option(name: .customLong("threads"), help: ArgumentHelp(
        "Event-loop threads serving SMTP and HTTP; each connection stays on one. (default: half the CPUs, at least 1)",
        valueName: "n"))
    var threads: String?

    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp(
        "How long a client may stay silent before 421 4.4.2 Idle timeout. (default: 300s)", valueName: "duration"))
    var idleTimeout: String?

    @Option(name: .customLong("session-time-limit"), help: ArgumentHelp(
        "Longest a whole session may last, however busy, before 421 4.4.2 Session time limit exceeded. (default: 30m)",
        valueName: "duration"))
    var sessionTimeLimit: String?

    @Option(name: .customLong("data-time-limit"), help: ArgumentHelp(
        "Longest one message's content may take, 354 to the final dot, before 421 4.4.2 DATA time limit exceeded. (default: 10m)",
        valueName: "duration"))
    var dataTimeLimit: String?

    @Option(name: .customLong("shutdown-grace"), help: ArgumentHelp(
        "On SIGTERM/SIGINT, how long messages in DATA may take to finish. (default: 10s)", valueName: "duration"))
    var shutdownGrace: String?

    @Option(name: .customLong("header-log-limit"), help: ArgumentHelp(
        "Most header bytes an accept-log message line carries. (default: 64K)", valueName: "size"))
    var headerLogLimit: String?

    @Option(name: .customLong("log-format"), help: ArgumentHelp(
        "json (one object a line) or text (for people). (default: json)", valueName: "format"))
    var logFormat: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "trace, debug, info, notice, warning, error or critical. (default: info)", valueName: "level"))
    var logLevel: String?

    /// Every option's name, which is also its config-file key.
    var flagValues: [String: [String]] {
        var values: [String: [String]] = [
            "listen": listen, "http-listen": httpListen.map { [$0] } ?? [], "tls-listen": tlsListen, "xclient-from": xclientFrom,
            "hard-reject": hardReject, "soft-reject": softReject, "disconnect": disconnect, "close": close, "delay": delay,
        ]
        let single: [(String, String?)] = [
            ("hostname", hostname), ("personality", personality), ("mode", mode), ("mode-file", modeFile), ("mode-cache-ttl", modeCacheTTL),
            ("mode-source", modeSource), ("ssm-with-decryption", ssmWithDecryption ? "true" : nil),
            ("aws-region", awsRegion), ("aws-connect-timeout", awsConnectTimeout),
            ("aws-request-timeout", awsRequestTimeout),
            ("defer-reply", deferReply), ("bounce-reply", bounceReply), ("accept-reply", acceptReply),
            ("greylist-reply", greylistReply), ("greylist-window", greylistWindow),
            ("greylist-max-entries", greylistMaxEntries), ("max-line-length", maxLineLength),
            ("max-message-size", maxMessageSize), ("max-recipients", maxRecipients),
            ("max-connections", maxConnections), ("idle-timeout", idleTimeout), ("shutdown-grace", shutdownGrace),
            ("session-time-limit", sessionTimeLimit), ("data-time-limit", dataTimeLimit), ("max-errors", maxErrors),
            ("threads", threads), ("header-log-limit", headerLogLimit), ("log-format", logFormat), ("log-level", logLevel),
            ("greylist-preset", greylistPreset), ("greylist-key", greylistKey), ("greylist-delay", greylistDelay),
            ("greylist-retry-window", greylistRetryWindow), ("greylist-max-age", greylistMaxAge),
            ("greylist-auto-whitelist", greylistAutoWhitelist), ("greylist-answer", greylistAnswer),
            ("rules", rules), ("client-triggers", clientTriggers), ("hard-reply", hardReply), ("soft-reply", softReply),
            ("data-delay", dataDelay), ("data-read-delay", dataReadDelay), ("abort-data-after", abortDataAfter),
            ("badsmtp-ports", badsmtpPorts ? "true" : nil), ("rule-state-max-entries", ruleStateMaxEntries),
            ("rule-message-limit", ruleMessageLimit), ("seed", seed),
            ("james-listen", jamesListen), ("api-token", apiToken), ("api-token-file", apiTokenFile),
            ("api-read-open", apiReadOpen ? "true" : nil), ("api-insecure", apiInsecure ? "true" : nil),
            ("capture", capture), ("capture-max-messages", captureMaxMessages), ("capture-max-bytes", captureMaxBytes),
            ("maildir", maildir), ("dump-each", dumpEach), ("dump-append", dumpAppend), ("dump-prefix", dumpPrefix),
            ("journal-max-sessions", journalMaxSessions), ("journal-max-lines", journalMaxLines),
            ("test-clock", testClock ? "true" : nil),
            ("starttls", startTLS ? "true" : nil), ("no-starttls", noStartTLS ? "true" : nil),
            ("tls-cert", tlsCert), ("tls-key", tlsKey), ("tls-profile", tlsProfile), ("tls-write-ca", tlsWriteCA),
            ("require-tls", requireTLS ? "true" : nil),
            ("auth", auth ? "true" : nil), ("no-auth", noAuth ? "true" : nil), ("auth-mechanisms", authMechanisms),
            ("auth-users", authUsers), ("require-auth", requireAuth ? "true" : nil), ("auth-over-tls-only", authOverTLSOnly),
            ("no-pipelining", noPipelining ? "true" : nil), ("no-8bitmime", no8BitMIME ? "true" : nil),
            ("no-smtputf8", noSMTPUTF8 ? "true" : nil), ("no-enhancedstatuscodes", noEnhancedStatusCodes ? "true" : nil),
            ("no-dsn", noDSN ? "true" : nil), ("no-chunking", noChunking ? "true" : nil),
            ("lmtp", lmtp ? "true" : nil), ("no-xclient", noXCLIENT ? "true" : nil),
            ("counters", counters ? "true" : nil), ("show-conversation", showConversation ? "true" : nil),
            ("syslog-commands", syslogCommands), ("tcp-window", tcpWindow),
            ("socket-mode", socketMode), ("listen-backlog", listenBacklog), ("stdio", stdio ? "true" : nil), ("ipv4-only", ipv4Only ? "true" : nil), ("ipv6-only", ipv6Only ? "true" : nil), ("no-xforward", noXFORWARD ? "true" : nil),
            ("no-esmtp", noESMTP ? "true" : nil), ("greeting", greeting), ("pix-greeting", pixGreeting ? "true" : nil),
            ("stop-after-messages", stopAfterMessages), ("stop-after-sessions", stopAfterSessions),
        ]
        for (key, value) in single { values[key] = value.map { [$0] } ?? [] }
        return values
    }

    func run() async throws {
        let settings: Settings
        do {
            settings = try resolveSettings()
        } catch {
            Self.fail("\(error)", code: 2)
        }

        if settings.stdio { LogWriter.shared.useStandardError() }
        LoggingSystem.bootstrap { _ in SinkholeLogHandler(format: settings.logFormat, level: settings.logLevel) }
        let logger = Logger(label: "sinkhole")
        defer { LogWriter.shared.flush() }

        // Metrics first: a handle made before the bootstrap would count nowhere.
        // Without the HTTP listener nobody can read them, so none are kept.
        let registry = PrometheusCollectorRegistry()
        var metrics: ServerMetrics?
        if settings.httpListen != nil {
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.durationHistogramBuckets[ServerMetrics.sessionDurationLabel] = ServerMetrics.sessionDurationBuckets
            MetricsSystem.bootstrap(factory)
            metrics = ServerMetrics()
        }

        // The mode: --mode-source if given, else a file if one is named, else
        // the --mode/SINKHOLE_MODE/config value, else defer.
        let source: any ModeSource
        if let spec = settings.modeSource {
            source = await Self.makeSource(spec, settings: settings, logger: logger)
        } else if let path = settings.modeFile {
            source = FileModeSource(path: path)
        } else if let mode = settings.mode {
            source = mode.origin == "SINKHOLE_MODE"
                ? EnvironmentModeSource(variable: "SINKHOLE_MODE") as any ModeSource
                : StaticModeSource(mode.text)
        } else {
            source = StaticModeSource(Mode.defer.rawValue)
        }
        let events = EventHub()
        let modes = ModeProvider(source: source, ttl: settings.modeCacheTTL, logger: logger, events: events)
        if let error = await modes.refresh(), source.failureAtStartIsFatal {
            // A mode file that cannot be read at start is a configuration mistake.
            // (An SSM read that fails is logged; sinkhole serves defer and retries.)
            LogWriter.shared.flush()
            Self.fail("mode source \(source.name): \(error.reason)", code: 2)
        }

        let engine = settings.engine
        let greylist = GreylistTable(settings: engine.greylist, capacity: settings.greylistMaxEntries)
        let random: any RandomSource = engine.seed.map { SeededRandomSource(seed: $0) } ?? SystemRandomSource()
        // With --test-clock the policy's time is one a test can move; otherwise the real one.
        let testClock = settings.api.testClock ? TestClock() : nil
        let policyNow: @Sendable () -> ContinuousClock.Instant
        if let testClock {
            policyNow = { testClock.now }
        } else {
            policyNow = { ContinuousClock.now }
        }
        func book(_ rules: [Rule]) -> RuleBook {
            RuleBook(rules: rules, maxKeysPerRule: engine.ruleStateMaxEntries, random: random, now: policyNow, events: events)
        }
        let runtime = try! RuntimeRules(makeBook: { rules in
            RuleBook(rules: rules, maxKeysPerRule: engine.ruleStateMaxEntries, random: random, now: policyNow, events: events)
        })
        if testClock != nil {
            logger.warning("test_clock", metadata: ["note": "--test-clock: POST /api/v1/clock may move the policy's time forward"])
        }
        let api = settings.api
        let capture = api.capture ? MailStore(maxMessages: api.captureMaxMessages, maxBytes: api.captureMaxBytes, events: events) : nil
        let journal = api.journalMaxSessions > 0
            ? SessionJournal(maxSessions: api.journalMaxSessions, maxLines: api.journalMaxLines, events: events) : nil
        let configuredRules = book(engine.rules)
        let control = ControlAPI(runtime: runtime, capture: capture, journal: journal, configuredRules: configuredRules,
                                 testClock: testClock, events: events, logger: logger, token: api.token, readOpen: api.readOpen)
        if api.token == nil && api.insecure {
            logger.warning("api_insecure", metadata: [
                "note": "--api-insecure: the control API takes changes from anyone who can reach it, without a token",
            ])
        }
        var listeners = settings.listen
        if engine.badsmtpPorts {
            for (offset, delay) in ListenerProfile.badsmtpDelays.enumerated() {
                let port = ListenerProfile.badsmtpGreetingBase + offset
                listeners.append(ListenerSpec(address: ListenAddress(host: "127.0.0.1", port: port),
                                              profile: ListenerProfile(name: "badsmtp-greeting-\(port)", greetingDelay: delay,
                                                                       personality: .badsmtp)))
            }
            for (offset, delay) in ListenerProfile.badsmtpDelays.enumerated() {
                let port = ListenerProfile.badsmtpDropBase + offset
                listeners.append(ListenerSpec(address: ListenAddress(host: "127.0.0.1", port: port),
                                              profile: ListenerProfile(name: "badsmtp-drop-\(port)", dropAfter: delay,
                                                                       personality: .badsmtp)))
            }
        }
        listeners += settings.tls.listen
        if engine.badsmtpPorts {
            // BadSMTP's TLS ports: 25465 implicit TLS, 25587 STARTTLS (as its plain port).
            var implicit = ListenerProfile(name: "badsmtp-tls-25465", personality: .badsmtp)
            implicit.implicitTLS = true
            var startTLS = ListenerProfile(name: "badsmtp-starttls-25587", personality: .badsmtp)
            startTLS.startTLS = true
            listeners.append(ListenerSpec(address: ListenAddress(host: "127.0.0.1", port: 25465), profile: implicit))
            listeners.append(ListenerSpec(address: ListenAddress(host: "127.0.0.1", port: 25587), profile: startTLS))
        }
        let tls = Self.makeTLS(settings: settings, listeners: listeners, logger: logger)
        var profiles: [Int: ListenerProfile] = [:]
        for (index, listener) in listeners.enumerated() {
            guard var profile = listener.profile else { continue }
            if !listener.rules.isEmpty { profile.rules = book(listener.rules) }
            profiles[index] = profile
        }
        let eventLoops = settings.threads == System.coreCount
            ? MultiThreadedEventLoopGroup.singleton
            : MultiThreadedEventLoopGroup(numberOfThreads: settings.threads)
        var session = SessionConfiguration(
            hostname: settings.hostname,
            personality: settings.personality,
            maxRecipients: settings.maxRecipients,
            maxMessageSize: settings.maxMessageSize,
            startTLS: settings.tls.startTLS,
            requireTLS: settings.tls.requireTLS,
            authMechanisms: settings.auth.mechanisms,
            requireAuth: settings.auth.requireAuth
        )
        session.pipelining = settings.keywords.pipelining
        session.eightBitMIME = settings.keywords.eightBitMIME
        session.smtpUTF8 = settings.keywords.smtpUTF8
        session.enhancedStatusCodes = settings.keywords.enhancedStatusCodes
        session.esmtp = settings.keywords.esmtp
        session.dsn = settings.keywords.dsn
        session.chunking = settings.keywords.chunking
        session.lmtp = settings.keywords.lmtp
        session.xclient = settings.keywords.xclient
        session.xforward = settings.keywords.xforward
        session.greeting = settings.keywords.greeting
        // smtp-sink's -M and -n: the limit reached is a graceful shutdown, once the group exists.
        let stopLatch = ShutdownLatch()
        let stopLimits = settings.keywords.stopAfterMessages != nil || settings.keywords.stopAfterSessions != nil
            ? StopLimits(messages: settings.keywords.stopAfterMessages, sessions: settings.keywords.stopAfterSessions) { limit, count in
                logger.notice("stop_limit_reached", metadata: ["limit": "\(limit)", "count": "\(count)"])
                stopLatch.fire()
            }
            : nil
        let disk = Self.makeDiskCapture(settings, logger: logger)
        let console = ConsoleOutput(counters: settings.keywords.counters, conversation: settings.keywords.showConversation,
                                    loggedCommands: Set(settings.keywords.loggedCommands))
        let server = SMTPServer(
            configuration: ServerConfiguration(
                listen: listeners.map(\.address),
                session: session,
                commandLineLengthLimit: settings.maxLineLength,
                maxConnections: settings.maxConnections,
                idleTimeout: settings.idleTimeout,
                sessionTimeLimit: settings.sessionTimeLimit,
                dataTimeLimit: settings.dataTimeLimit,
                maxErrors: settings.maxErrors,
                shutdownGracePeriod: settings.shutdownGrace,
                headerLogLimit: settings.headerLogLimit,
                profiles: profiles,
                dataReadDelay: engine.dataReadDelay,
                abortDataAfter: engine.abortDataAfter,
                ruleMessageLimit: engine.ruleMessageLimit,
                capture: capture,
                disk: disk,
                xclientFrom: settings.keywords.xclientFrom,
                console: console,
                tcpWindow: settings.keywords.tcpWindow,
                socketMode: settings.socketMode,
                backlog: settings.listenBacklog,
                stdio: settings.stdio,
                ipv6Only: settings.addressFamily == .ipv6,
                journal: journal,
                tls: tls,
                tlsProfile: settings.tls.profile,
                authOverTLSOnly: settings.auth.overTLSOnly,
                stopLimits: stopLimits
            ),
            modes: modes,
            policy: PolicyConfiguration(
                replies: settings.replies,
                greylist: greylist,
                rules: configuredRules,
                runtime: runtime,
                clientTriggers: engine.clientTriggers,
                withdrawPipelining: engine.withdrawPipelining,
                now: policyNow,
                random: random,
                credentials: settings.auth.users.map { UsersFileCredentials(users: $0) } ?? BadSMTPCredentials()
            ),
            group: eventLoops,
            metrics: metrics,
            logger: logger
        )
        let readiness = Readiness()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            // With --stdio the one session's end is the end: the group stops as on SIGTERM.
            .init(service: server, successTerminationBehavior: settings.stdio ? .gracefullyShutdownGroup : .cancelGroup),
            .init(service: ModeRefresher(provider: modes), successTerminationBehavior: .ignore),
        ]
        var httpServers: [OpsServer] = []
        if let address = settings.httpListen {
            httpServers.append(OpsServer(
                host: address.host, port: address.port, registry: registry, modes: modes, greylist: greylist,
                readiness: readiness, eventLoops: eventLoops, control: control, logger: logger,
                onListening: { bound in
                    logger.info("http_listening", metadata: [
                        "address": "\(SMTPServer.describe(bound))",
                        "paths": "/healthz /readyz /metrics /smtpBehaviors /smtpExtensions /smtpMails /smtpMailsCount /version /livez /api/v1/...",
                        "token": "\(api.token == nil ? "none" : "required")",
                    ])
                }
            ))
        }
        if let address = api.jamesListen {
            httpServers.append(OpsServer(
                host: address.host, port: address.port, registry: registry, modes: modes, greylist: greylist,
                readiness: readiness, eventLoops: eventLoops, control: control, jamesOnly: true, logger: logger,
                onListening: { bound in
                    logger.info("james_listening", metadata: [
                        "address": "\(SMTPServer.describe(bound))",
                        "paths": "/smtpBehaviors /smtpExtensions /smtpMails /smtpMailsCount /version",
                    ])
                }
            ))
        }
        if !httpServers.isEmpty { services.append(.init(service: HTTPListeners(httpServers))) }
        // The group exists, and SIGTERM/SIGINT are caught, before `listening` is
        // logged: a signal sent the moment sinkhole says it listens (as ECS or a
        // test may do) is a graceful shutdown, not death by the default action.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [],
            logger: logger.quiet()
        ))
        let fileLimit = Self.raiseFileLimit()
        if fileLimit < settings.maxConnections + 64 {
            logger.warning("fd_limit_low", metadata: [
                "fd_limit": "\(fileLimit)", "max_connections": "\(settings.maxConnections)",
                "note": "connections past the file limit wait unaccepted: raise the hard limit (ulimit -Hn, systemd LimitNOFILE, ECS ulimits nofile)",
            ])
        }
        let shutdown: @Sendable () -> Void = {
            // Open event streams would hold the HTTP listener's shutdown: end them first.
            events.finishAll()
            Task { await group.triggerGracefulShutdown() }
        }
        let signalSources = Self.catchShutdownSignals(shutdown)
        stopLatch.arm(shutdown)
        defer { signalSources.forEach { $0.cancel() } }
        // SIGHUP, or a change to --tls-cert/--tls-key, loads the certificate
        // again for later handshakes; open sessions keep theirs.
        let reload: @Sendable (String) -> Void = { trigger in
            guard let tls, case .files = tls.source else {
                logger.notice("reload", metadata: ["trigger": "\(trigger)", "note": "nothing to reload (no --tls-cert)"])
                return
            }
            do {
                let fingerprint = try tls.reload()
                logger.notice("tls_reloaded", metadata: ["trigger": "\(trigger)", "fingerprint_sha256": "\(fingerprint ?? "")"])
            } catch {
                logger.error("tls_reload_failed", metadata: [
                    "trigger": "\(trigger)", "error": "\(error)", "note": "the certificate loaded before stays in use",
                ])
            }
        }
        let hangup = Self.catchSignal(SIGHUP) { reload("sighup") }
        defer { hangup.cancel() }
        let watcher = Task.detached {
            guard let tls, case .files = tls.source else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(2))
                if tls.filesChanged { reload("file_changed") }
            }
        }
        defer { watcher.cancel() }
        do {
            let addresses = try await server.bind()
            for address in addresses {
                logger.info("listening", metadata: [
                    "address": "\(SMTPServer.describe(address))",
                    "hostname": "\(settings.hostname)",
                    "mode": "\(modes.current)",
                    "mode_source": "\(source.name)",
                    "fd_limit": "\(fileLimit)",
                ])
            }
            readiness.markListening()
        } catch {
            LogWriter.shared.flush()
            if settings.stdio {
                Self.fail("cannot serve on standard input and output: \(Self.describe(error)) (they must be pipes or sockets, as inetd and swaks --pipe give, not files or a terminal)", code: 1)
            }
            Self.fail("cannot listen on \(listeners.map(\.address.description).joined(separator: ", ")): \(Self.describe(error))", code: 1)
        }

        do {
            try await group.run()
        } catch {
            // The one service that can fail after start is the HTTP listener (its port taken).
            logger.error("service_failed", metadata: ["error": "\(Self.describe(error))"])
            LogWriter.shared.flush()
            Self.fail("\(settings.httpListen.map { "http listener \($0): " } ?? "")\(Self.describe(error))", code: 1)
        }
        console.flush()
        logger.info("stopped")
    }

    /// Capture to disk, its Maildir created; exits 2 on a directory that cannot be made.
    private static func makeDiskCapture(_ settings: Settings, logger: Logger) -> DiskCapture? {
        let disk = settings.disk
        guard disk.isEnabled else { return nil }
        var targets: [DiskCapture.Target] = []
        if let directory = disk.maildir { targets.append(.maildir(directory: directory)) }
        if let template = disk.dumpEach { targets.append(.dumpEach(template: template)) }
        if let template = disk.dumpAppend { targets.append(.dumpAppend(template: template)) }
        let failures = Counter(label: "sinkhole_disk_write_failures_total")
        let capture = DiskCapture(targets: targets, dumpPrefix: disk.dumpPrefix.map(DiskCapture.unescape) ?? [],
                                  hostname: settings.hostname, onFailure: { failures.increment() })
        do {
            try capture.prepare()
        } catch {
            Self.fail("cannot prepare maildir \(disk.maildir ?? ""): \(error)", code: 2)
        }
        logger.notice("disk_capture", metadata: [
            "maildir": "\(disk.maildir ?? "none")", "dump_each": "\(disk.dumpEach ?? "none")",
            "dump_append": "\(disk.dumpAppend ?? "none")",
        ])
        return capture
    }

    /// The TLS contexts, when anything needs them: certificates loaded or
    /// generated, the CA written for `--tls-write-ca`, the fingerprint logged.
    /// Exits 2 on a certificate that cannot be used.
    private static func makeTLS(settings: Settings, listeners: [ListenerSpec], logger: Logger) -> TLSServerContexts? {
        let tls = settings.tls
        guard tls.needed(listeners: listeners) else { return nil }
        var names = [settings.hostname, "localhost", "127.0.0.1", "::1"]
        for listener in listeners where listener.address.unixPath == nil && !["0.0.0.0", "::", "*"].contains(listener.address.host) {
            names.append(listener.address.host)
        }
        let source: CertificateSource = if let certificate = tls.certificate, let key = tls.key {
            .files(certificate: certificate, key: key)
        } else {
            .generated(names: names)
        }
        let contexts: TLSServerContexts
        do {
            contexts = try TLSServerContexts(source: source, names: names)
        } catch {
            Self.fail("\(error)", code: 2)
        }
        if let path = tls.writeCA {
            do {
                try contexts.caPEM.write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                Self.fail("cannot write tls-write-ca \(path): \(Self.describe(error))", code: 2)
            }
        }
        let profile = tls.profile
        logger.notice("tls_ready", metadata: [
            "certificate": "\(tls.certificate ?? "generated")",
            "profile": "\(profile.rawValue)",
            "fingerprint_sha256": "\(contexts.fingerprint(profile))",
            "starttls": "\(tls.startTLS)",
            "ca_written": "\(tls.writeCA ?? "no")",
        ])
        return contexts
    }

    private static func makeSource(_ spec: ModeSourceSpec, settings: Settings, logger: Logger) async -> any ModeSource {
        let environment = ProcessInfo.processInfo.environment
        switch spec {
        case .fixed(let mode):
            return StaticModeSource(mode)
        case .environment(let variable):
            return EnvironmentModeSource(variable: variable, environment: environment)
        case .file(let path):
            return FileModeSource(path: path)
        case .ssm(let parameter):
            guard let region = AWSEndpoints.region(flag: settings.awsRegionFlag, environment: environment,
                                                   configured: settings.awsRegionSetting) else {
                Self.fail("mode source ssm:\(parameter) needs a region: set AWS_REGION, AWS_DEFAULT_REGION or --aws-region", code: 2)
            }
            if let reason = CurlTransport.unavailable {
                Self.fail("mode source ssm:\(parameter): \(reason) (the ssm: source needs libcurl4)", code: 2)
            }
            let transport = CurlTransport()
            let credentials = CredentialChain.standard(environment: environment, transport: transport,
                                                       timeouts: HTTPTimeouts(connect: settings.awsConnectTimeout, request: settings.awsRequestTimeout))
            // No credentials anywhere is a deployment mistake: say so at start,
            // naming every place looked at, rather than serving defer forever.
            do {
                _ = try await credentials.credentials()
            } catch {
                LogWriter.shared.flush()
                Self.fail("mode source ssm:\(parameter): \(error.reason)", code: 2)
            }
            let endpoint = AWSEndpoints.ssm(region: region, environment: environment)
            logger.info("aws_credentials", metadata: [
                "from": "\(credentials.source ?? "?")", "region": "\(region)", "endpoint": "\(endpoint)",
                "parameter": "\(parameter)",
            ])
            return SSMModeSource(parameter: parameter, withDecryption: settings.ssmWithDecryption, region: region,
                                 endpoint: endpoint, credentials: credentials, transport: transport,
                                 timeouts: HTTPTimeouts(connect: settings.awsConnectTimeout, request: settings.awsRequestTimeout))
        }
    }

    private func resolveSettings() throws -> Settings {
        let environment = ProcessInfo.processInfo.environment
        var layers = SettingLayers(flags: flagValues, environment: environment, file: [:])
        let configPath = config ?? environment["SINKHOLE_CONFIG"]
        if let configPath {
            try layers.readFile(configPath, knownKeys: Set(flagValues.keys))
        }
        return try Settings(layers, defaultHostname: Self.systemHostname())
    }

    /// Ignores SIGTERM and SIGINT's default action and calls `shutdown` when one arrives.
    private static func catchShutdownSignals(_ shutdown: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: shutdown)
            source.resume()
            return source
        }
    }

    /// A shutdown asked for before the service group exists waits for it.
    final class ShutdownLatch: Sendable {
        private let state = Mutex<(fired: Bool, action: (@Sendable () -> Void)?)>((false, nil))
        func fire() {
            let action = state.withLock { state -> (@Sendable () -> Void)? in
                state.fired = true
                return state.action
            }
            action?()
        }
        func arm(_ action: @escaping @Sendable () -> Void) {
            let fired = state.withLock { state -> Bool in
                state.action = action
                return state.fired
            }
            if fired { action() }
        }
    }

    /// Calls `handler` (off any event loop) each time signal `number` arrives, instead of its default action.
    private static func catchSignal(_ number: Int32, _ handler: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler(handler: handler)
        source.resume()
        return source
    }

    /// Raises the soft limit on open files to the hard limit (each connection
    /// is one), and returns the limit now in force.
    private static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    private static func systemHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "sinkhole" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "sinkhole" : name
    }

    private static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }

    private static func fail(_ reason: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("sinkhole: error: \(reason)\n".utf8))
        Foundation.exit(code)
    }
}

extension Logger {
    /// This logger at `warning` and above: the service group's own chatter stays out.
    func quiet() -> Logger {
        var copy = self
        copy.logLevel = max(copy.logLevel, .warning)
        return copy
    }
}
