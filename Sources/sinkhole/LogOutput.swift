import Dispatch
import Foundation
import SinkholeConfig
import Logging
import Synchronization

/// Writes log lines to stdout from a queue of its own, so an event loop that
/// logs never blocks on a slow reader of stdout. At most `limit` lines wait;
/// past that lines are dropped and the count is reported in the next line
/// that gets through.
final class LogWriter: Sendable {
    static let shared = LogWriter()

    private let queue = DispatchQueue(label: "sinkhole.log")
    /// `--stdio`: standard output carries the SMTP session, so the log goes to standard error.
    private let toStandardError = Atomic<Bool>(false)
    func useStandardError() { toStandardError.store(true, ordering: .relaxed) }
    private let pending = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let limit = 50_000

    func write(_ line: String) {
        if pending.wrappingAdd(1, ordering: .relaxed).newValue > limit {
            pending.wrappingSubtract(1, ordering: .relaxed)
            dropped.wrappingAdd(1, ordering: .relaxed)
            return
        }
        queue.async {
            var text = line
            let lost = self.dropped.exchange(0, ordering: .relaxed)
            if lost > 0 {
                text = "{\"ts\":\"\(LogTime.now())\",\"level\":\"warning\",\"event\":\"log_lines_dropped\",\"count\":\(lost)}\n" + text
            }
            (self.toStandardError.load(ordering: .relaxed) ? FileHandle.standardError : FileHandle.standardOutput)
                .write(Data(text.utf8))
            self.pending.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    /// Returns once every queued line is written.
    func flush() { queue.sync {} }
}

enum LogTime {
    /// `2026-11-23T19:36:07.123Z`
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(spec.tv_nsec / 1_000_000), 3))Z"
    }
}


/// One JSON object a line: `ts`, `level`, `event`, then the metadata, keys sorted.
/// Numbers given as numbers stay numbers; arrays stay arrays.
struct SinkholeLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let format: LogFormat

    init(format: LogFormat, level: Logger.Level) {
        self.format = format
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        switch format {
        case .json:
            var line = "{\"ts\":\"\(LogTime.now())\",\"level\":\"\(event.level)\",\"event\":"
            JSON.appendString(event.message.description, to: &line)
            for key in merged.keys.sorted() {
                line += ","
                JSON.appendString(key, to: &line)
                line += ":"
                // Keys are sorted and unique: `key` is present.
                JSON.append(merged[key] ?? "", to: &line)
            }
            line += "}\n"
            LogWriter.shared.write(line)
        case .text:
            var line = "\(LogTime.now()) \(event.level) \(event.message)"
            for key in merged.keys.sorted() {
                line += " \(key)=\(Self.text(merged[key] ?? ""))"
            }
            LogWriter.shared.write(line + "\n")
        }
    }

    private static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string):
            return string.contains(where: { $0 == " " || $0 == "\n" || $0 == "\"" }) ? JSON.quoted(string) : string
        case .stringConvertible(let value): return value.description
        case .array(let values): return "[" + values.map(text).joined(separator: ",") + "]"
        case .dictionary(let values):
            return "{" + values.keys.sorted().map { "\($0)=\(text(values[$0] ?? ""))" }.joined(separator: ",") + "}"
        }
    }
}

enum JSON {
    static func quoted(_ string: String) -> String {
        var out = ""
        appendString(string, to: &out)
        return out
    }

    static func appendString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    static func append(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let string):
            appendString(string, to: &out)
        case .stringConvertible(let value):
            switch value {
            case is Int, is Int64, is UInt64, is Double, is Bool: out += value.description
            default: appendString(value.description, to: &out)
            }
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                append(element, to: &out)
            }
            out += "]"
        case .dictionary(let values):
            out += "{"
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                append(values[key] ?? "", to: &out)
            }
            out += "}"
        }
    }
}
