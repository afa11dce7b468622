import Foundation
import SinkholePolicy
import Yams

/// Reads YAML or JSON (YAML is a superset of JSON) into ``ConfigValue``,
/// keeping the order of mappings and lists.
public enum ConfigFile {
    /// The document in the file at `path`; a one-line error when it cannot be read or parsed.
    /// `what`: the kind of file, for errors (`config file`, `rules file`).
    public static func load(_ path: String, what: String = "config file") throws -> ConfigValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            // A pipe (`--rules <(generate-rules)`) cannot be read that way: read it as a stream.
            guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd(),
                  let streamed = String(data: data, encoding: .utf8) else {
                throw SettingsError(description: "cannot read \(what) \(path): \((error as NSError).localizedDescription)")
            }
            text = streamed
        }
        return try parse(text, name: "\(what) \(path)")
    }

    /// The document in `text`; `name` says where it came from in errors.
    public static func parse(_ text: String, name: String) throws -> ConfigValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            // Yams' message spans lines (the source line and a caret): keep it to one.
            let reason = "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && $0 != "^" }.joined(separator: " ")
            throw SettingsError(description: "\(name) is not valid YAML or JSON: \(reason)")
        }
        guard let node else { return .null }
        return convert(node)
    }

    static func convert(_ node: Node) -> ConfigValue {
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return .null
            case .bool: return node.bool.map(ConfigValue.bool) ?? .string(scalar.string)
            case .int: return node.int.map(ConfigValue.int) ?? .string(scalar.string)
            case .float: return node.float.map(ConfigValue.double) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .mapping(let mapping):
            return .map(mapping.map { pair in (pair.key.string ?? convert(pair.key).description, convert(pair.value)) })
        case .sequence(let sequence):
            return .list(sequence.map(convert))
        case .alias:
            return .null
        }
    }
}
