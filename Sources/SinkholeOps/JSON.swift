import Foundation
import SinkholePolicy

/// Strict JSON in: numbers, booleans and strings stay apart (`"501"` is a
/// string, `true` no number), read with Foundation's decoder.
struct JSONInput: Decodable {
    let value: ConfigValue

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .null
        } else if let bool = try? container.decode(Bool.self) {
            value = .bool(bool)
        } else if let int = try? container.decode(Int.self) {
            value = .int(int)
        } else if let double = try? container.decode(Double.self) {
            value = .double(double)
        } else if let string = try? container.decode(String.self) {
            value = .string(string)
        } else if let list = try? container.decode([JSONInput].self) {
            value = .list(list.map(\.value))
        } else {
            let object = try decoder.container(keyedBy: AnyKey.self)
            var fields: [(String, ConfigValue)] = []
            for key in object.allKeys {
                fields.append((key.stringValue, try object.decode(JSONInput.self, forKey: key).value))
            }
            value = .map(fields)
        }
    }

    /// The document in `bytes`; nil when it is not JSON.
    static func parse(_ bytes: some Sequence<UInt8>) -> ConfigValue? {
        try? JSONDecoder().decode(JSONInput.self, from: Data(bytes)).value
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// JSON out, written by hand: field order as given, `null` where asked.
indirect enum JSONOutput {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null
    case list([JSONOutput])
    case object([(String, JSONOutput)])

    var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .string(let s): Self.quote(s, into: &out)
        case .int(let n): out += String(n)
        case .double(let d): out += d.isFinite ? String(d) : "null"
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .list(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (index, (key, value)) in fields.enumerated() {
                if index > 0 { out += "," }
                Self.quote(key, into: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
