import SMTPProtocol

/// A value read from a YAML or JSON document, before it is checked.
public indirect enum ConfigValue: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }

    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null
    case list([ConfigValue])
    case map([(String, ConfigValue)])

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let n): String(n)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .null: "null"
        case .list(let l): "[" + l.map(\.description).joined(separator: ", ") + "]"
        case .map(let m): "{" + m.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        }
    }

    /// A scalar as text (numbers and booleans too); nil for lists, maps and null.
    public var scalarText: String? {
        switch self {
        case .string(let s): s
        case .int(let n): String(n)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        default: nil
        }
    }

    public var typeName: String {
        switch self {
        case .string: "a string"
        case .int, .double: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .list: "a list"
        case .map: "a mapping"
        }
    }
}

/// A rule that cannot be loaded, said in one line naming the rule and the field.
public struct RuleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var rule: String
    public var field: String
    public var reason: String
    public var description: String { "rule \(rule): \(field): \(reason)" }
}

/// Reads rules from a parsed document: sinkhole's fields, and James's
/// behaviour JSON verbatim (`command`, `condition.operator`,
/// `condition.matchingValue`, `response.code`, `response.message`,
/// `numberOfAnswer`). Field names are matched ignoring case, `_` and `-`
/// (`count_per`, `countPer`); unknown fields are refused.
public enum RuleDecoder {
    /// `list`: the value of `rules:` (or a `--rules` file's top level, or its `rules:`).
    /// `james`: James's semantics for `"DATA"` (answered after the message, at the final dot).
    public static func decode(_ value: ConfigValue, origin: String, james: Bool = false) throws(RuleError) -> [Rule] {
        var items: [ConfigValue]
        switch value {
        case .list(let list): items = list
        case .map(let map):
            if map.count == 1, let entry = map.first, normalise(entry.0) == "rules" {
                // A file whose top level is `{rules: [...]}`.
                guard case .list(let list) = entry.1 else {
                    throw RuleError(rule: origin, field: "rules", reason: "expected a list of rules")
                }
                items = list
            } else {
                // One rule on its own, as James's article PUTs it.
                items = [value]
            }
        case .null: items = []
        default: throw RuleError(rule: origin, field: "rules", reason: "expected a list of rules, not \(value.typeName)")
        }
        var rules: [Rule] = []
        var ids = Set<String>()
        for (index, item) in items.enumerated() {
            var rule = try decodeRule(item, number: index + 1, origin: origin, james: james)
            guard ids.insert(rule.id).inserted else {
                throw RuleError(rule: rule.id, field: "id", reason: "another rule has this id")
            }
            rule.origin = origin
            rules.append(rule)
        }
        return rules
    }

    static func normalise(_ key: String) -> String {
        key.lowercased().filter { $0 != "_" && $0 != "-" }
    }

    private static let ruleFields: Set<String> = [
        "id", "command", "commands", "condition", "response", "responses", "numberofanswer", "countper",
        "probability", "seed", "ttl", "bytes", "description",
    ]

    private static func decodeRule(_ value: ConfigValue, number: Int, origin: String, james: Bool) throws(RuleError) -> Rule {
        guard case .map(let fields) = value else {
            throw RuleError(rule: "#\(number)", field: "rule", reason: "expected a mapping, not \(value.typeName)")
        }
        var map: [String: ConfigValue] = [:]
        var name = "#\(number)"
        if let id = fields.first(where: { normalise($0.0) == "id" })?.1.scalarText { name = id }
        for (key, field) in fields {
            let normalised = normalise(key)
            guard ruleFields.contains(normalised) else {
                throw RuleError(rule: name, field: key, reason: "unknown field (expected one of id, command, condition, response, responses, numberOfAnswer, count_per, probability, seed, ttl, bytes, description)")
            }
            map[normalised] = field
        }
        func fail(_ field: String, _ reason: String) -> RuleError { RuleError(rule: name, field: field, reason: reason) }

        if let id = map["id"] {
            guard let text = id.scalarText, !text.isEmpty, text.count <= 128,
                  text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else {
                throw fail("id", "expected letters, digits, '-', '_', '.' or ':' (at most 128)")
            }
        }
        let id = map["id"]?.scalarText ?? "rule-\(number)"

        // command
        var commandValues: [ConfigValue] = []
        switch map["command"] ?? map["commands"] {
        case .list(let list)?: commandValues = list
        case let single?: commandValues = [single]
        case nil: throw fail("command", "is required (one of \(RuleCommand.names))")
        }
        var commands = Set<RuleCommand>()
        for item in commandValues {
            guard let text = item.scalarText else { throw fail("command", "expected a command name, not \(item.typeName)") }
            // A comma- or space-separated list is read as several (smtp-sink's CMDS).
            for part in text.split(whereSeparator: { $0 == "," }) {
                let name = part.trimmingSMTPWhitespace()
                guard var command = RuleCommand(parsing: name) else {
                    throw fail("command", "unknown command \"\(name)\" (expected one of \(RuleCommand.names))")
                }
                if james && command == .data { command = .endOfData }
                commands.insert(command)
            }
        }
        guard !commands.isEmpty else { throw fail("command", "is empty") }

        // condition
        let condition = try map["condition"].map { (c: ConfigValue) throws(RuleError) in try decodeCondition(c, rule: name, path: "condition") } ?? .always

        // responses
        var steps: [RuleStep] = []
        if map["response"] != nil && map["responses"] != nil {
            throw fail("responses", "give either response or responses, not both")
        }
        if let response = map["response"] {
            steps = [try decodeStep(response, rule: name, path: "response", commands: commands)]
        } else if case .list(let list)? = map["responses"] {
            guard !list.isEmpty else { throw fail("responses", "is empty") }
            for (index, item) in list.enumerated() {
                steps.append(try decodeStep(item, rule: name, path: "responses[\(index)]", commands: commands))
            }
        } else if let other = map["responses"] {
            throw fail("responses", "expected a list, not \(other.typeName)")
        } else {
            throw fail("response", "is required")
        }

        var numberOfAnswer: Int?
        if let value = map["numberofanswer"], value != .null {
            guard case .int(let n) = value, n >= 1 else { throw fail("numberOfAnswer", "expected a whole number above 0 or null") }
            guard steps.count == 1 else { throw fail("numberOfAnswer", "give either numberOfAnswer or a list of responses, not both") }
            numberOfAnswer = n
        }
        var countPer = RuleCountKey.global
        if let value = map["countper"] {
            guard let text = value.scalarText, let key = RuleCountKey(rawValue: text.lowercased().replacingDashes()) else {
                throw fail("count_per", "expected one of \(RuleCountKey.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            countPer = key
        }
        var probability: Double?
        if let value = map["probability"] {
            let number: Double? = switch value {
            case .int(let n): Double(n)
            case .double(let d): d
            default: nil
            }
            guard let number, number >= 0, number <= 100 else { throw fail("probability", "expected a percentage from 0 to 100") }
            probability = number
        }
        var seed: UInt64?
        if let value = map["seed"] {
            guard case .int(let n) = value, n >= 0 else { throw fail("seed", "expected a whole number, 0 or more") }
            seed = UInt64(n)
        }
        var ttl: Duration?
        if let value = map["ttl"] {
            guard let text = value.scalarText, let duration = DurationText.parse(text), duration > .zero else {
                throw fail("ttl", "expected a duration such as 10m or 30s")
            }
            ttl = duration
        }
        var contentBytes = 0
        if let value = map["bytes"] {
            guard commands == [.content] else { throw fail("bytes", "applies to command CONTENT only") }
            guard let text = value.scalarText, let n = SizeText.parse(text) else { throw fail("bytes", "expected a number of bytes such as 1024 or 64K") }
            contentBytes = n
        }
        return Rule(id: id, commands: commands, condition: condition, steps: steps, numberOfAnswer: numberOfAnswer,
                    countPer: countPer, probability: probability, seed: seed, ttl: ttl, contentBytes: contentBytes,
                    origin: origin)
    }

    private static let conditionFields: Set<String> = ["operator", "matchingvalue", "value", "field", "ignorecase", "not", "all", "any"]

    static func decodeCondition(_ value: ConfigValue, rule: String, path: String) throws(RuleError) -> RuleCondition {
        func fail(_ field: String, _ reason: String) -> RuleError { RuleError(rule: rule, field: "\(path).\(field)", reason: reason) }
        guard case .map(let fields) = value else {
            throw RuleError(rule: rule, field: path, reason: "expected a mapping, not \(value.typeName)")
        }
        var map: [String: ConfigValue] = [:]
        for (key, field) in fields {
            let normalised = normalise(key)
            guard conditionFields.contains(normalised) else {
                throw fail(key, "unknown field (expected operator, matchingValue, field, ignoreCase, not, all or any)")
            }
            map[normalised] = field
        }
        if let inner = map["not"] {
            guard map.count == 1 else { throw fail("not", "stands alone in its condition") }
            // The inner condition first, then the case: building an indirect
            // case around a `try` leaked its box (seen under LeakSanitizer).
            let negated = try decodeCondition(inner, rule: rule, path: "\(path).not")
            return .not(negated)
        }
        for combinator in ["all", "any"] {
            guard let list = map[combinator] else { continue }
            guard map.count == 1 else { throw fail(combinator, "stands alone in its condition") }
            guard case .list(let items) = list, !items.isEmpty else { throw fail(combinator, "expected a non-empty list of conditions") }
            var conditions: [RuleCondition] = []
            for (index, item) in items.enumerated() {
                let condition = try decodeCondition(item, rule: rule, path: "\(path).\(combinator)[\(index)]")
                conditions.append(condition)
            }
            return combinator == "all" ? .all(conditions) : .any(conditions)
        }
        guard let opText = map["operator"]?.scalarText else { throw fail("operator", "is required") }
        var field = RuleField.argument
        if let fieldValue = map["field"] {
            guard let text = fieldValue.scalarText, let parsed = RuleField(parsing: text) else {
                throw fail("field", "unknown field \"\(fieldValue)\" (expected \(RuleField.expected))")
            }
            field = parsed
        }
        var ignoreCase = false
        if let flag = map["ignorecase"] {
            guard case .bool(let b) = flag else { throw fail("ignoreCase", "expected true or false") }
            ignoreCase = b
        }
        let matching = map["matchingvalue"] ?? map["value"]
        let op = normalise(opText)
        if op == "matchall" {
            guard matching == nil else { throw fail("matchingValue", "matchAll takes no matchingValue") }
            return .test(field: field, operator: .matchAll, ignoreCase: false)
        }
        guard let matching, let text = matching.scalarText else { throw fail("matchingValue", "is required for operator \(opText)") }
        let folded = ignoreCase ? text.lowercased() : text
        let parsedOperator: RuleOperator
        switch op {
        case "contains": parsedOperator = .contains(folded)
        case "equals", "eq", "is":
            if field == .clientIP, text.contains("/") {
                guard let network = CIDR(text) else { throw fail("matchingValue", "\"\(text)\" is not a network such as 192.0.2.0/24") }
                parsedOperator = .cidr(network)
            } else {
                parsedOperator = .equals(folded)
            }
        case "prefix", "startswith": parsedOperator = .prefix(folded)
        case "suffix", "endswith": parsedOperator = .suffix(folded)
        case "regex", "matches":
            do {
                parsedOperator = .regex(try RuleRegex(text, ignoreCase: ignoreCase))
            } catch {
                throw fail("matchingValue", "the regex \"\(text)\" does not compile: \(String(describing: error).split(whereSeparator: \.isNewline).first ?? "")")
            }
        case "cidr", "in":
            guard let network = CIDR(text) else { throw fail("matchingValue", "\"\(text)\" is not a network such as 192.0.2.0/24") }
            parsedOperator = .cidr(network)
        case "gt", "greaterthan", "lt", "lessthan":
            guard let n = SizeText.parse(text) else { throw fail("matchingValue", "expected a number for operator \(opText)") }
            parsedOperator = op.hasPrefix("g") ? .greaterThan(n) : .lessThan(n)
        default:
            throw fail("operator", "unknown operator \"\(opText)\" (expected matchAll, contains, equals, prefix, suffix, regex, cidr, gt or lt)")
        }
        return .test(field: field, operator: parsedOperator, ignoreCase: ignoreCase)
    }

    private static let responseFields: Set<String> = [
        "code", "enhancedcode", "message", "lines", "action", "delay", "dribble", "split", "deliver",
    ]

    static func decodeStep(_ value: ConfigValue, rule: String, path: String, commands: Set<RuleCommand>) throws(RuleError) -> RuleStep {
        func fail(_ field: String, _ reason: String) -> RuleError { RuleError(rule: rule, field: field.isEmpty ? path : "\(path).\(field)", reason: reason) }
        if let text = value.scalarText, text.lowercased() == "pass" { return .pass }
        if case .int(let code) = value {
            // A bare code in a sequence: `[451, 451, pass]`.
            return try decodeStep(.map([("code", .int(code))]), rule: rule, path: path, commands: commands)
        }
        guard case .map(let fields) = value else { throw fail("", "expected a response mapping, a code or \"pass\", not \(value.typeName)") }
        var map: [String: ConfigValue] = [:]
        for (key, field) in fields {
            let normalised = normalise(key)
            guard responseFields.contains(normalised) else {
                throw fail(key, "unknown field (expected code, enhancedCode, message, lines, action, delay, dribble, split or deliver)")
            }
            map[normalised] = field
        }
        var action = RuleResponse.Action.reply
        if let actionValue = map["action"] {
            guard let text = actionValue.scalarText,
                  let parsed = RuleResponse.Action(rawValue: text.lowercased().replacingDashes()) else {
                throw fail("action", "unknown action \"\(actionValue)\" (expected reply, accept, reply_and_close, disconnect, reset, hang, tls_close or tls_garbage)")
            }
            action = parsed
        }
        let breaksTLS = action == .tlsClose || action == .tlsGarbage
        if breaksTLS && commands != [.startTLS] {
            throw fail("action", "\(action.rawValue) breaks a TLS handshake, for STARTTLS only")
        }
        var reply: SMTPReply?
        let deliveryOnly = action == .reply && map["code"] == nil && map["message"] == nil && map["lines"] == nil
            && (map["delay"] != nil || map["dribble"] != nil || map["split"] != nil)
        if deliveryOnly {
            // No reply of its own: the normal reply, delayed, dribbled or split,
            // and the command takes effect.
        } else if (action == .accept || breaksTLS) && map["code"] == nil {
            // Accept with the normal reply.
            for field in ["enhancedcode", "message", "lines"] where map[field] != nil {
                throw fail(field, "needs a code")
            }
        } else if action == .reply || action == .replyAndClose || action == .accept || breaksTLS {
            guard let codeValue = map["code"] else { throw fail("code", "is required for action \(action.rawValue) (or give only delay, dribble or split to slow the normal reply)") }
            guard case .int(let number) = codeValue, let code = ReplyCode(number) else {
                throw fail("code", "expected a reply code from 200 to 599, not \(codeValue)")
            }
            try checkFits(code: number, commands: commands, fail: fail)
            if action == .accept && !(200..<300).contains(number) && number != 354 {
                throw fail("code", "action accept takes a 2xx, not \(number)")
            }
            if breaksTLS && number != 220 { throw fail("code", "action \(action.rawValue) takes 220, not \(number)") }
            var enhanced: EnhancedStatusCode?
            if let value = map["enhancedcode"] {
                guard let text = value.scalarText, let parsed = EnhancedStatusCode(text[...]) else {
                    throw fail("enhancedCode", "expected a code such as 5.1.1, not \(value)")
                }
                guard parsed.statusClass == number / 100 else {
                    throw fail("enhancedCode", "class \(parsed.statusClass) does not match reply code \(number)")
                }
                enhanced = parsed
            }
            var lines: [String] = []
            if let linesValue = map["lines"] {
                guard case .list(let items) = linesValue, !items.isEmpty else { throw fail("lines", "expected a non-empty list of strings") }
                for item in items {
                    guard let text = item.scalarText else { throw fail("lines", "expected strings, not \(item.typeName)") }
                    lines.append(text)
                }
                if map["message"] != nil { throw fail("lines", "give either message or lines, not both") }
            } else if let message = map["message"] {
                guard let text = message.scalarText else { throw fail("message", "expected a string, not \(message.typeName)") }
                lines = [text]
            } else {
                lines = [defaultText(for: number)]
            }
            for line in lines {
                guard line.utf8.count <= 510, !line.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                    throw fail(map["lines"] == nil ? "message" : "lines", "a reply line holds no control characters (CR, LF, tabs) and at most 510 bytes")
                }
            }
            reply = SMTPReply(code: code, enhanced: enhanced, lines: lines)
        } else {
            for field in ["code", "enhancedcode", "message", "lines"] where map[field] != nil {
                throw fail(field, "action \(action.rawValue) sends no reply")
            }
        }
        var delay: RuleDelay?
        if let value = map["delay"] { delay = try decodeDelay(value, fail: { fail("delay", $0) }) }
        var dribble: Int?
        if let value = map["dribble"] {
            guard case .int(let n) = value, n >= 1, n <= 1_000_000 else { throw fail("dribble", "expected bytes per second, 1 to 1000000") }
            guard reply != nil || deliveryOnly else { throw fail("dribble", "needs a reply to dribble") }
            dribble = n
        }
        var split: Int?
        if let value = map["split"] {
            guard case .int(let n) = value, n >= 1 else { throw fail("split", "expected a piece size in bytes, 1 or more") }
            guard reply != nil || deliveryOnly else { throw fail("split", "needs a reply to split") }
            split = n
        }
        var deliver: Bool?
        if let value = map["deliver"] {
            guard case .bool(let flag) = value else { throw fail("deliver", "expected true or false") }
            guard commands.isSubset(of: [.rcpt, .endOfData]) else {
                throw fail("deliver", "applies to RCPT and . (the end of data) only")
            }
            guard !deliveryOnly, action == .reply || action == .accept || action == .replyAndClose else {
                throw fail("deliver", "needs a reply (with action reply, accept or reply_and_close)")
            }
            deliver = flag
        }
        if deliveryOnly { return .slow(delay: delay, bytesPerSecond: dribble, pieceSize: split) }
        return .respond(RuleResponse(action: action, reply: reply, delay: delay, bytesPerSecond: dribble, pieceSize: split,
                                     deliver: deliver))
    }

    static func decodeDelay(_ value: ConfigValue, fail: (String) -> RuleError) throws(RuleError) -> RuleDelay {
        if case .map(let fields) = value {
            var min: Duration?
            var max: Duration?
            for (key, field) in fields {
                guard let text = field.scalarText, let duration = DurationText.parse(text) else {
                    throw fail("\(key): expected a duration such as 2s or 500ms")
                }
                switch normalise(key) {
                case "min": min = duration
                case "max": max = duration
                default: throw fail("unknown field \(key) (expected min and max)")
                }
            }
            guard let min, let max, min <= max else { throw fail("expected {min: ..., max: ...} with min <= max") }
            return .uniform(min: min, max: max)
        }
        guard let text = value.scalarText, let duration = DurationText.parse(text) else {
            throw fail("expected a duration such as 2s, 500ms or {min: 1s, max: 3s}")
        }
        return .fixed(duration)
    }

    /// Refuses replies that make no sense where the rule answers.
    private static func checkFits(code: Int, commands: Set<RuleCommand>, fail: (String, String) -> RuleError) throws(RuleError) {
        func only(_ allowed: RuleCommand, _ what: String) throws(RuleError) {
            if commands != [allowed] { throw fail("code", "\(code) \(what); this rule answers \(commands.map(\.rawValue).sorted().joined(separator: ", "))") }
        }
        switch code {
        case 220:
            if commands != [.connect] && commands != [.startTLS] {
                throw fail("code", "220 is the greeting or STARTTLS's go-ahead, for CONNECT or STARTTLS only; this rule answers \(commands.map(\.rawValue).sorted().joined(separator: ", "))")
            }
        case 221: try only(.quit, "is the answer to QUIT only")
        case 354: try only(.data, "is DATA's go-ahead, for DATA only")
        default:
            if commands.contains(.content) && code < 400 {
                throw fail("code", "\(code) cannot answer part-way through a message (CONTENT takes a 4xx or 5xx)")
            }
        }
    }

    /// The text of a reply given by code alone.
    static func defaultText(for code: Int) -> String {
        switch code {
        case 220: "Service ready"
        case 221: "Bye"
        case 200..<300: "OK"
        case 354: "End data with <CR><LF>.<CR><LF>"
        default: ClientTriggers.text(for: code)
        }
    }
}

/// Durations as sinkhole writes them: `30`, `0.5`, `500ms`, `30s`, `5m`, `2h`, `1d`.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        let text = text.trimmingSMTPWhitespace().lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        var number = Substring(text)
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale <= 365 * 86400 else { return nil }
        return .milliseconds(Int64((value * scale * 1000).rounded()))
    }
}

/// Sizes: `1048576`, `64K`, `25M`, `1G` (binary multiples).
public enum SizeText {
    public static func parse(_ text: String) -> Int? {
        var text = text.trimmingSMTPWhitespace().uppercased()
        for suffix in ["IB", "B"] where text.hasSuffix(suffix) && text.count > suffix.count {
            text.removeLast(suffix.count)
            break
        }
        let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var multiplier = 1
        if let last = text.last, let factor = multipliers[last] {
            multiplier = factor
            text.removeLast()
        }
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigitCharacter), let value = Int(text),
              value <= Int.max / multiplier else { return nil }
        return value * multiplier
    }
}

extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
