import Foundation
import SinkholePolicy

/// Why a mode source gave no mode.
public struct ModeSourceError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    /// Figures for the log line beside the reason: `aws_error`, `http_status`, `parameter`.
    public var details: [String: String]
    /// The source asks not to be read again before this long (throttling).
    public var retryAfter: Duration?

    public init(_ reason: String, details: [String: String] = [:], retryAfter: Duration? = nil) {
        self.reason = reason
        self.details = details
        self.retryAfter = retryAfter
    }

    public var description: String { reason }
}

/// Somewhere the mode's name is read from. ``ModeProvider`` calls `fetch()`
/// in the background, never from a session.
public protocol ModeSource: Sendable {
    /// How the source is named in logs: `static`, `env:SINKHOLE_MODE`, `file:/etc/sinkhole/mode`.
    var name: String { get }
    /// `false` for sources whose value cannot change while sinkhole runs.
    var changes: Bool { get }
    /// Whether a failed first read stops sinkhole from starting. A missing
    /// mode file is a typo to report; an SSM call that fails at start is
    /// weather: sinkhole serves `defer` and retries.
    var failureAtStartIsFatal: Bool { get }
    /// The raw mode name, or a ``ModeSourceError``.
    func fetch() async throws(ModeSourceError) -> String
}

extension ModeSource {
    public var failureAtStartIsFatal: Bool { true }
}

/// A fixed mode: `--mode accept`.
public struct StaticModeSource: ModeSource {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var name: String { "static" }
    public var changes: Bool { false }
    public func fetch() async throws(ModeSourceError) -> String { value }
}

/// A mode read once from an environment variable at start, the way a
/// container sets a fixed mode: `SINKHOLE_MODE=bounce`.
public struct EnvironmentModeSource: ModeSource {
    public let variable: String
    private let value: String?

    public init(variable: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.variable = variable
        self.value = environment[variable]
    }

    public var name: String { "env:\(variable)" }
    public var changes: Bool { false }

    public func fetch() async throws(ModeSourceError) -> String {
        guard let value else { throw ModeSourceError("\(variable) is not set") }
        return value
    }
}

/// A file that holds the mode's name; editing it switches the mode.
/// Read off the event loops, in the background refresh.
public struct FileModeSource: ModeSource {
    public let path: String
    /// A mode file is a word and a newline; anything much larger is a mistake.
    static let sizeLimit = 4096

    public init(path: String) { self.path = path }

    public var name: String { "file:\(path)" }
    public var changes: Bool { true }

    public func fetch() async throws(ModeSourceError) -> String {
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.read(upToCount: Self.sizeLimit + 1) ?? Data()
        } catch {
            throw ModeSourceError("cannot read \(path): \(Self.describe(error))")
        }
        guard data.count <= Self.sizeLimit else {
            throw ModeSourceError("\(path) is larger than \(Self.sizeLimit) bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ModeSourceError("\(path) is not UTF-8 text")
        }
        return text
    }

    private static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileReadNoSuchFileError {
            return "No such file or directory"
        }
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileReadNoPermissionError {
            return "Permission denied"
        }
        return nsError.localizedDescription
    }
}
