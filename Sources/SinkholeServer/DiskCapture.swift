#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Where accepted messages are written (`--maildir`, `--dump-each`,
/// `--dump-append`), and how.
///
/// Every file operation runs on a thread pool, never on an event loop. A
/// message is streamed to a temporary file as it arrives (at most
/// ``flushSize`` octets held in memory), then fsynced, renamed into place
/// and its directory fsynced, all before the session sends its 250: a
/// message answered 250 survives a crash right after.
public final class DiskCapture: Sendable {
    public enum Target: Hashable, Sendable {
        /// A Maildir: `tmp/`, then a rename into `new/`.
        case maildir(directory: String)
        /// smtp-sink's `-d`: one file per message, named by an strftime template plus a random suffix.
        case dumpEach(template: String)
        /// smtp-sink's `-D`: messages appended to the file an strftime template names.
        case dumpAppend(template: String)
    }

    public let targets: [Target]
    /// smtp-sink's `-S`: written before each dumped message (C escapes already resolved).
    public let dumpPrefix: [UInt8]
    /// The name in a dump's `Received:` header (`by <hostname> (sinkhole)`).
    public let hostname: String
    let pool: NIOThreadPool
    /// Appends to one dump file are whole messages, one at a time.
    let appendLock = NIOLock()
    /// Called (off the loop) when a write fails, for the metric.
    let onFailure: @Sendable () -> Void

    /// Octets gathered before a write is sent to the pool.
    static let flushSize = 64 * 1024

    public init(targets: [Target], dumpPrefix: [UInt8] = [], hostname: String, pool: NIOThreadPool = .singleton,
                onFailure: @escaping @Sendable () -> Void = {}) {
        self.targets = targets
        self.dumpPrefix = dumpPrefix
        self.hostname = hostname
        self.pool = pool
        self.onFailure = onFailure
    }

    /// Creates each Maildir's `tmp`, `new` and `cur` (at start, before any event loop serves).
    public func prepare() throws {
        for case .maildir(let directory) in targets {
            for sub in ["", "/tmp", "/new", "/cur"] {
                try DiskFiles.makeDirectories(directory + sub)
            }
        }
    }

    /// Resolves smtp-sink's `-S` escapes: `\a \b \f \n \r \t \v \\` and `\ddd` (up to three octal digits).
    public static func unescape(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            guard byte == UInt8(ascii: "\\"), let next = bytes.first else { out.append(byte); continue }
            let simple: [UInt8: UInt8] = [UInt8(ascii: "a"): 7, UInt8(ascii: "b"): 8, UInt8(ascii: "f"): 12,
                                          UInt8(ascii: "n"): 10, UInt8(ascii: "r"): 13, UInt8(ascii: "t"): 9,
                                          UInt8(ascii: "v"): 11, UInt8(ascii: "\\"): 92]
            if let value = simple[next] {
                bytes.removeFirst()
                out.append(value)
            } else if (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(next) {
                var value = 0
                var digits = 0
                while digits < 3, let digit = bytes.first, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(digit) {
                    value = value * 8 + Int(digit - UInt8(ascii: "0"))
                    bytes.removeFirst()
                    digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            } else {
                out.append(byte)
            }
        }
        return out
    }
}

/// What a dumped or maildir'd message says about its transaction.
struct DiskEnvelope: Sendable {
    var queueID: String
    var clientIP: String
    /// `SMTP`, `ESMTP` or `LMTP`.
    var proto: String
    var helo: String?
    var sender: String
    /// MAIL's and each kept RCPT's argument, as the client wrote them (after `FROM:` / `TO:`).
    var mailArgs: String
    var rcptArgs: [String]
    var recipients: [String]
    var listener: String
}

/// One message on its way to disk: created at the message's start, fed its
/// content, then committed (fsynced and moved into place) or abandoned.
/// Confined to its session's event loop; the files themselves are touched
/// only by the pool, one job after another.
final class DiskMessage {
    private let capture: DiskCapture
    private let eventLoop: any EventLoop
    private let files: DiskFiles
    private var gathered: ByteBuffer
    /// The last job sent to the pool: every job waits for the one before.
    private var chain: EventLoopFuture<Void>
    /// Octets sent to the pool and not yet written: above ``DiskMessage/backlogLimit`` reads pause.
    private(set) var inFlight = 0
    static let backlogLimit = 1 << 20

    init(capture: DiskCapture, envelope: DiskEnvelope, eventLoop: any EventLoop) {
        self.capture = capture
        self.eventLoop = eventLoop
        self.files = DiskFiles(capture: capture, envelope: envelope)
        gathered = ByteBuffer()
        let files = files
        chain = capture.pool.runIfActive(eventLoop: eventLoop) { try files.open() }
    }

    /// Message content, in order.
    func append(_ bytes: ByteBuffer) {
        var bytes = bytes
        gathered.writeBuffer(&bytes)
        if gathered.readableBytes >= DiskCapture.flushSize { flush() }
    }

    private func flush() {
        guard gathered.readableBytes > 0 else { return }
        let chunk = Array(gathered.readableBytesView)
        gathered.clear()
        inFlight += chunk.count
        let files = files
        let pool = capture.pool
        let eventLoop = eventLoop
        chain = chain.flatMap { pool.runIfActive(eventLoop: eventLoop) { try files.write(chunk) } }
        chain.assumeIsolated().whenComplete { [self] _ in
            inFlight -= chunk.count
            if inFlight <= Self.backlogLimit / 2, let drained = onDrained {
                onDrained = nil
                drained()
            }
        }
    }

    /// Called once the backlog has shrunk to half its limit (the session takes input again).
    var onDrained: (() -> Void)?
    /// More is waiting for the disk than a session may hold: stop reading until ``onDrained``.
    var isBacklogged: Bool { inFlight > Self.backlogLimit }

    /// The rest written, fsynced, moved into place, its directory fsynced: the paths written.
    func commit() -> EventLoopFuture<[String]> {
        flush()
        let files = files
        let pool = capture.pool
        let eventLoop = eventLoop
        let onFailure = capture.onFailure
        let committed = chain.flatMap {
            pool.runIfActive(eventLoop: eventLoop) { () throws -> [String] in
                do { return try files.commit() } catch {
                    _ = files.abandon()
                    throw error
                }
            }
        }
        // An earlier job (open, a write) that failed left its files behind: removed, off the loop.
        return committed.flatMapError { error in
            onFailure()
            return pool.runIfActive(eventLoop: eventLoop) { _ = files.abandon() }
                .flatMapThrowing { throw error }
        }
    }

    /// The message will not be kept: its temporary files go.
    func abandon() {
        gathered.clear()
        let files = files
        let pool = capture.pool
        let eventLoop = eventLoop
        chain = chain.flatMapError { _ in eventLoop.makeSucceededVoidFuture() }
            .flatMap { pool.runIfActive(eventLoop: eventLoop) { _ = files.abandon() } }
    }
}

/// The open files of one message: touched only on the pool, one job at a time
/// (the message's chain orders them), hence unchecked.
final class DiskFiles: @unchecked Sendable {
    private struct OpenFile {
        var target: DiskCapture.Target
        var fd: Int32
        var temporary: String
        var final: String
        var converter = LineEndings()
    }

    private let capture: DiskCapture
    private let envelope: DiskEnvelope
    private var openFiles: [OpenFile] = []
    /// The random part of a dump file's name, and the `id` of its `Received:`.
    private let dumpID: String = {
        let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }()
    private static let counter = NIOLockedValueBox(0)

    init(capture: DiskCapture, envelope: DiskEnvelope) {
        self.capture = capture
        self.envelope = envelope
    }

    struct Failure: Error, CustomStringConvertible {
        var operation: String
        var path: String
        var code: Int32
        var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
    }

    func open() throws {
        let now = time(nil)
        for target in capture.targets {
            let temporary: String
            let final: String
            switch target {
            case .maildir(let directory):
                let name = Self.maildirName(now: now)
                temporary = "\(directory)/tmp/\(name)"
                final = "\(directory)/new/\(name)"
            case .dumpEach(let template):
                final = Self.expand(template, at: now) + dumpID
                temporary = Self.hidden(final)
            case .dumpAppend(let template):
                final = Self.expand(template, at: now)
                temporary = Self.hidden(final + "." + dumpID)
            }
            if let slash = temporary.lastIndex(of: "/"), slash != temporary.startIndex {
                try Self.makeDirectories(String(temporary[..<slash]))
            }
            let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Failure(operation: "open", path: temporary, code: errno) }
            openFiles.append(OpenFile(target: target, fd: fd, temporary: temporary, final: final))
            try writeAll(fd, header(for: target, at: now), path: temporary)
        }
    }

    func write(_ chunk: [UInt8]) throws {
        for index in openFiles.indices {
            let converted = openFiles[index].converter.convert(chunk)
            try writeAll(openFiles[index].fd, converted, path: openFiles[index].temporary)
        }
    }

    func commit() throws -> [String] {
        var written: [String] = []
        for index in openFiles.indices {
            var file = openFiles[index]
            var tail = file.converter.finish()
            if case .maildir = file.target {} else { tail.append(0x0A) }  // smtp-sink's empty line after each message
            try writeAll(file.fd, tail, path: file.temporary)
            guard fsync(file.fd) == 0 else { throw Failure(operation: "fsync", path: file.temporary, code: errno) }
            close(file.fd)
            file.fd = -1
            openFiles[index] = file
            switch file.target {
            case .maildir, .dumpEach:
                guard rename(file.temporary, file.final) == 0 else { throw Failure(operation: "rename", path: file.final, code: errno) }
            case .dumpAppend:
                capture.appendLock.lock()
                defer { capture.appendLock.unlock() }
                try append(file.temporary, to: file.final)
                unlink(file.temporary)
            }
            try Self.syncDirectory(of: file.final)
            written.append(file.final)
        }
        openFiles.removeAll()
        return written
    }

    /// Closes and removes what is still temporary; the paths removed.
    func abandon() -> [String] {
        var removed: [String] = []
        for file in openFiles {
            if file.fd >= 0 { close(file.fd) }
            if unlink(file.temporary) == 0 { removed.append(file.temporary) }
        }
        openFiles.removeAll()
        return removed
    }

    // MARK: - Contents

    private func header(for target: DiskCapture.Target, at now: time_t) -> [UInt8] {
        var text = ""
        switch target {
        case .maildir:
            text += "Return-Path: <\(envelope.sender)>\n"
            text += "X-Sinkhole-Queue-ID: \(envelope.queueID)\n"
            text += "X-Sinkhole-Client: \(envelope.clientIP)\n"
            if let helo = envelope.helo { text += "X-Sinkhole-Helo: \(helo)\n" }
            text += "X-Sinkhole-Mail-From: <\(envelope.sender)>\n"
            for recipient in envelope.recipients { text += "X-Sinkhole-Rcpt-To: <\(recipient)>\n" }
            if !envelope.listener.isEmpty { text += "X-Sinkhole-Listener: \(envelope.listener)\n" }
            return Array(text.utf8)
        case .dumpEach, .dumpAppend:
            // smtp-sink's generated headers, in its order (smtp-sink(1), DUMP FILE FORMAT).
            let address = envelope.clientIP.contains(":") ? "ipv6:\(envelope.clientIP)" : envelope.clientIP
            text += "X-Client-Addr: \(address)\n"
            text += "X-Client-Proto: \(envelope.proto)\n"
            if let helo = envelope.helo { text += "X-Helo-Args: \(helo)\n" }
            text += "X-Mail-Args: \(envelope.mailArgs)\n"
            for args in envelope.rcptArgs { text += "X-Rcpt-Args: \(args)\n" }
            text += "Received: from \(envelope.helo ?? address) ([\(address)])\n"
            text += "\tby \(capture.hostname) (sinkhole) with \(envelope.proto) id \(dumpID);\n"
            text += "\t\(Self.rfc2822Date(now))\n"
            return capture.dumpPrefix + Array(text.utf8)
        }
    }

    /// `Tue,  1 Dec 2026 16:23:41 +0000 (UTC)`, as smtp-sink writes it (local time).
    static func rfc2822Date(_ now: time_t) -> String {
        var seconds = now
        var parts = tm()
        localtime_r(&seconds, &parts)
        return strftime("%a, %e %b %Y %H:%M:%S %z (%Z)", parts)
    }

    static func expand(_ template: String, at now: time_t) -> String {
        var seconds = now
        var parts = tm()
        localtime_r(&seconds, &parts)
        return strftime(template, parts)
    }

    private static func strftime(_ format: String, _ parts: tm) -> String {
        var parts = parts
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = Glibc.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `dir/.name.sinkhole-tmp`: beside the final file, so the rename stays on one file system.
    private static func hidden(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return ".\(path).sinkhole-tmp" }
        return String(path[...slash]) + "." + String(path[path.index(after: slash)...]) + ".sinkhole-tmp"
    }

    /// `<seconds>.M<microseconds>P<pid>Q<counter>.<host>` (the Maildir convention: unique on this host).
    private static func maildirName(now: time_t) -> String {
        var clock = timeval()
        gettimeofday(&clock, nil)
        let count = counter.withLockedValue { value -> Int in value += 1; return value }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        // The convention's escapes for the two characters a name may not hold.
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .map { $0 == "/" ? "\\057" : $0 == ":" ? "\\072" : String($0) }.joined()
        return "\(clock.tv_sec).M\(clock.tv_usec)P\(getpid())Q\(count).\(name)"
    }

    // MARK: - Files

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "write", path: path, code: errno)
            }
            offset += written
        }
    }

    private func append(_ source: String, to target: String) throws {
        let input = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Failure(operation: "open", path: source, code: errno) }
        defer { close(input) }
        let output = Glibc.open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw Failure(operation: "open", path: target, code: errno) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", path: source, code: errno)
            }
            if count == 0 { break }
            try writeAll(output, Array(buffer.prefix(count)), path: target)
        }
        guard fsync(output) == 0 else { throw Failure(operation: "fsync", path: target, code: errno) }
    }

    static func makeDirectories(_ path: String) throws {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            prefix += prefix.isEmpty && path.hasPrefix("/") ? "/\(part)" : (prefix.isEmpty ? String(part) : "/\(part)")
            if prefix == "/" || part.isEmpty { continue }
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw Failure(operation: "mkdir", path: prefix, code: errno)
            }
        }
    }

    private static func syncDirectory(of path: String) throws {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = Glibc.open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(operation: "open", path: directory, code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure(operation: "fsync", path: directory, code: errno) }
    }
}

/// CR LF to LF across chunk boundaries (a Maildir's and smtp-sink's dump's line ends).
struct LineEndings {
    private var pendingCR = false

    mutating func convert(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count + 16)
        for byte in input {
            if pendingCR {
                pendingCR = false
                if byte == 0x0A {
                    out.append(0x0A)
                    continue
                }
                out.append(0x0D)
            }
            if byte == 0x0D {
                pendingCR = true
                continue
            }
            out.append(byte)
        }
        return out
    }

    mutating func finish() -> [UInt8] {
        defer { pendingCR = false }
        return pendingCR ? [0x0D] : []
    }
}
