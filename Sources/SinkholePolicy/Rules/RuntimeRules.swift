import SMTPProtocol
import Synchronization

/// One behaviour of Apache James's mock server, as its HTTP API takes and
/// lists it (james-mock-smtp-spec.md §3): checked as strictly as James
/// checks it, so what James refuses with 400 sinkhole refuses too.
public struct JamesBehavior: Hashable, Sendable {
    /// `"MAIL FROM"`, `"RCPT TO"`, `"DATA"`, `"EHLO"`, `"RSET"`, `"VRFY"`, `"NOOP"` or `"QUIT"`.
    public var command: String
    /// `matchAll` or `contains`.
    public var conditionOperator: String
    /// The substring for `contains`; nil for `matchAll`.
    public var matchingValue: String?
    public var code: Int
    public var message: String
    /// nil: unlimited.
    public var numberOfAnswer: Int?

    /// James's commands, exactly as its JSON spells them (case-sensitive).
    public static let commands = ["RCPT TO", "EHLO", "MAIL FROM", "DATA", "RSET", "VRFY", "NOOP", "QUIT"]
    /// The reply codes James accepts; any other is a 400.
    public static let codes: Set<Int> = [200, 211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452,
                                         500, 501, 502, 503, 504, 521, 530, 550, 551, 552, 553, 554]

    /// Why a behaviour is refused (James answers 400 with an empty body; the reason is for the log).
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(command: String, conditionOperator: String, matchingValue: String?, code: Int, message: String,
                numberOfAnswer: Int?) {
        self.command = command
        self.conditionOperator = conditionOperator
        self.matchingValue = matchingValue
        self.code = code
        self.message = message
        self.numberOfAnswer = numberOfAnswer
    }

    /// A PUT /smtpBehaviors body: a list of behaviours, each checked as James's Jackson model checks it.
    public static func parseList(_ value: ConfigValue) throws(Invalid) -> [JamesBehavior] {
        guard case .list(let items) = value else { throw Invalid(description: "expected a JSON array, not \(value.typeName)") }
        var out: [JamesBehavior] = []
        for (index, item) in items.enumerated() {
            do throws(Invalid) {
                out.append(try parse(item))
            } catch {
                throw Invalid(description: "behavior \(index + 1): \(error.description)")
            }
        }
        return out
    }

    static func parse(_ value: ConfigValue) throws(Invalid) -> JamesBehavior {
        func fail(_ reason: String) -> Invalid { Invalid(description: reason) }
        guard case .map(let fields) = value else { throw fail("expected an object, not \(value.typeName)") }
        var command: String?, condition: [(String, ConfigValue)]?, response: [(String, ConfigValue)]?
        var numberOfAnswer: Int?
        for (key, field) in fields {
            switch key {
            case "command":
                guard case .string(let text) = field, commands.contains(text) else {
                    throw fail("command: expected one of \(commands.map { "\"\($0)\"" }.joined(separator: ", "))")
                }
                command = text
            case "condition":
                guard case .map(let map) = field else { throw fail("condition: expected an object") }
                condition = map
            case "response":
                guard case .map(let map) = field else { throw fail("response: expected an object") }
                response = map
            case "numberOfAnswer":
                switch field {
                case .null: numberOfAnswer = nil
                case .int(let n) where n >= 1: numberOfAnswer = n
                default: throw fail("numberOfAnswer: times should be positive")
                }
            default:
                throw fail("unknown field \"\(key)\"")
            }
        }
        guard let command else { throw fail("You need to specify an smtpCommand") }
        guard let response else { throw fail("You need to specify a response") }
        guard let condition else { throw fail("condition: is required") }

        var conditionOperator: String?, matchingValue: ConfigValue?
        for (key, field) in condition {
            switch key {
            case "operator":
                guard case .string(let text) = field else { throw fail("condition.operator: expected a string") }
                conditionOperator = text
            case "matchingValue": matchingValue = field
            default: throw fail("condition: unknown field \"\(key)\"")
            }
        }
        guard let conditionOperator else { throw fail("You need to specify an operator") }
        var matching: String?
        switch conditionOperator {
        case "matchAll":
            guard matchingValue == nil else { throw fail("You should not specify a matchingValue with the matchAll operator") }
        case "contains":
            guard case .string(let text)? = matchingValue else {
                throw fail("You need to specify a matchingValue with the contains operator")
            }
            matching = text
        default:
            throw fail("Unsupported \(conditionOperator) operator")
        }

        var code: Int?, message: String?
        for (key, field) in response {
            switch key {
            case "code":
                // Jackson coerces "501" to 501; so does sinkhole.
                switch field {
                case .int(let n): code = n
                case .string(let text): code = Int(text)
                    if code == nil { throw fail("response.code: not a number") }
                default: throw fail("response.code: expected a number")
                }
            case "message":
                guard case .string(let text) = field else { throw fail("response.message: expected a string") }
                message = text
            default: throw fail("response: unknown field \"\(key)\"")
            }
        }
        guard let code else { throw fail("response.code: is required") }
        guard codes.contains(code) else { throw fail("\(code) is not a supported SMTP code") }
        guard let message else { throw fail("response.message: is required") }
        guard message.utf8.count <= 500, !message.contains(where: { $0 == "\r" || $0 == "\n" }) else {
            throw fail("response.message: one line of at most 500 bytes")
        }
        return JamesBehavior(command: command, conditionOperator: conditionOperator, matchingValue: matching,
                             code: code, message: message, numberOfAnswer: numberOfAnswer)
    }

    /// The behaviour as rule text for ``RuleDecoder`` (James's meaning of DATA included).
    func ruleValue(id: String) -> ConfigValue {
        var condition: [(String, ConfigValue)] = [("operator", .string(conditionOperator))]
        if let matchingValue { condition.append(("matchingValue", .string(matchingValue))) }
        var fields: [(String, ConfigValue)] = [
            ("id", .string(id)),
            ("command", .string(command)),
            ("condition", .map(condition)),
            ("response", .map([("code", .int(code)), ("message", .string(message.isEmpty ? " " : message))])),
        ]
        if let numberOfAnswer { fields.append(("numberOfAnswer", .int(numberOfAnswer))) }
        return .map(fields)
    }
}

/// Mailpit's chaos triggers (mailpit-compat.md §1): a code and a percentage
/// for MAIL FROM, RCPT TO and AUTH.
public struct ChaosTriggers: Hashable, Sendable {
    public struct Trigger: Hashable, Sendable {
        public var errorCode: Int
        public var probability: Int

        public init(errorCode: Int, probability: Int) {
            self.errorCode = errorCode
            self.probability = probability
        }
    }

    public var sender = Trigger(errorCode: 451, probability: 0)
    public var recipient = Trigger(errorCode: 451, probability: 0)
    /// At AUTH, once the client's credentials are in (Mailpit answers right after the mechanism).
    public var authentication = Trigger(errorCode: 535, probability: 0)

    public init() {}

    /// The rules the triggers stand for: Mailpit's texts, no enhanced code.
    func rules() -> [ConfigValue] {
        [("chaos-sender", "MAIL", sender, "Chaos sender error"),
         ("chaos-recipient", "RCPT", recipient, "Chaos recipient error"),
         ("chaos-authentication", "AUTH", authentication, "Chaos authentication error")]
            .filter { $0.2.probability > 0 }
            .map { id, command, trigger, text in
                .map([("id", .string(id)), ("command", .string(command)),
                      ("response", .map([("code", .int(trigger.errorCode)), ("message", .string(text))])),
                      ("probability", .int(trigger.probability))])
            }
    }
}

/// The rules and EHLO keywords a test changes while sinkhole runs, over
/// HTTP: its own rules (`/api/v1/rules`), James's behaviours
/// (`PUT /smtpBehaviors`) and extensions (`PUT /smtpExtensions`), and
/// Mailpit's chaos (`PUT /api/v1/chaos`).
///
/// Each change swaps the whole book, so a session sees the list before or
/// after a change, never half of one. Sessions check an atomic mask first:
/// with nothing set, a command costs one load.
public final class RuntimeRules: Sendable {
    /// A rule added over `POST /api/v1/rules`: its own book, so adding or
    /// removing another leaves its counts alone.
    public struct APIRule: Sendable {
        public var id: String
        /// The rule as posted (with its id), shown back by GET.
        public var document: ConfigValue
        public var book: RuleBook
        public var rule: Rule { book.rules[0] }
    }

    /// Why a rule change cannot be made.
    public enum ChangeError: Error, Sendable {
        case invalid(RuleError)
        case duplicate(String)
        case unknown(String)
        case tooMany(Int)
    }

    /// Most rules the API may add.
    public static let maxAPIRules = 1000

    private struct State: Sendable {
        var apiRules: [APIRule] = []
        var nextRule = 1
        var behaviors: [JamesBehavior]
        var chaos = ChaosTriggers()
        var book: RuleBook
        /// Chaos counts apart, so changing one list leaves the other's counts alone.
        var chaosBook: RuleBook
        var extensions: [String]
    }

    private let state: Mutex<State>
    /// The commands the current book answers (``RuleCommand/bit``).
    private let commandMask = Atomic<UInt32>(0)
    private let extensionsSet = Atomic<Bool>(false)
    private let readsMessageFlag = Atomic<Bool>(false)
    /// The smallest CONTENT threshold, or `Int.max` for none.
    private let threshold = Atomic<Int>(Int.max)
    private let makeBook: @Sendable ([Rule]) -> RuleBook
    /// What `reset` returns to: the config file's `james-behaviors:`.
    public let baseline: [JamesBehavior]

    public init(baseline: [JamesBehavior] = [],
                makeBook: @escaping @Sendable ([Rule]) -> RuleBook = { RuleBook(rules: $0) }) throws(RuleError) {
        self.makeBook = makeBook
        self.baseline = baseline
        let book = makeBook(try Self.compile(baseline))
        let chaosBook = makeBook(try Self.compile(ChaosTriggers()))
        state = Mutex(State(behaviors: baseline, book: book, chaosBook: chaosBook, extensions: []))
        publish(book, chaosBook, [])
    }

    private static func compile(_ behaviors: [JamesBehavior]) throws(RuleError) -> [Rule] {
        let list = ConfigValue.list(behaviors.enumerated().map { $0.element.ruleValue(id: "james-\($0.offset + 1)") })
        return try RuleDecoder.decode(list, origin: "james-behaviors", james: true)
    }

    private static func compile(_ chaos: ChaosTriggers) throws(RuleError) -> [Rule] {
        try RuleDecoder.decode(.list(chaos.rules()), origin: "mailpit-chaos")
    }

    private func publish(_ book: RuleBook, _ chaosBook: RuleBook, _ apiRules: [APIRule]) {
        var mask = book.commandMask | chaosBook.commandMask
        var reads = book.readsMessage
        var least = book.contentThreshold ?? Int.max
        for rule in apiRules {
            mask |= rule.book.commandMask
            reads = reads || rule.book.readsMessage
            least = min(least, rule.book.contentThreshold ?? Int.max)
        }
        commandMask.store(mask, ordering: .releasing)
        readsMessageFlag.store(reads, ordering: .releasing)
        threshold.store(least, ordering: .releasing)
    }

    // MARK: - What sessions ask

    var mask: UInt32 { commandMask.load(ordering: .acquiring) }
    var readsMessage: Bool { readsMessageFlag.load(ordering: .acquiring) }
    var contentThreshold: Int? {
        let value = threshold.load(ordering: .acquiring)
        return value == Int.max ? nil : value
    }

    /// The first rule in force now that fires: the API's rules, James's behaviours, then Mailpit's chaos.
    func match(_ input: RuleInput) -> RuleMatch? {
        let (apiRules, book, chaosBook) = state.withLock { ($0.apiRules, $0.book, $0.chaosBook) }
        for rule in apiRules {
            if let match = rule.book.match(input) { return match }
        }
        return book.match(input) ?? chaosBook.match(input)
    }

    // MARK: - The API's own rules

    public var apiRules: [APIRule] { state.withLock { $0.apiRules } }

    /// Adds a rule (sinkhole's rule syntax, as in a rules file) after the others; returns its id.
    public func addRule(_ document: ConfigValue) throws(ChangeError) -> String {
        // A rule without an id gets the next `api-N`.
        var numbered = document
        if case .map(let fields) = document, !fields.contains(where: { $0.0 == "id" }) {
            let n = state.withLock { state -> Int in
                defer { state.nextRule += 1 }
                return state.nextRule
            }
            numbered = .map([("id", .string("api-\(n)"))] + fields)
        }
        let book = try compileAPIRule(numbered)
        let ruleID = book.rules[0].id
        try state.withLock { (state) throws(ChangeError) in
            guard state.apiRules.count < Self.maxAPIRules else { throw .tooMany(Self.maxAPIRules) }
            guard !state.apiRules.contains(where: { $0.id == ruleID }) else { throw .duplicate(ruleID) }
            state.apiRules.append(APIRule(id: ruleID, document: numbered, book: book))
            publish(state.book, state.chaosBook, state.apiRules)
        }
        return ruleID
    }

    /// Replaces rule `id` (its counts start afresh).
    public func replaceRule(_ id: String, with document: ConfigValue) throws(ChangeError) {
        var document = document
        if case .map(let fields) = document {
            document = .map([("id", .string(id))] + fields.filter { $0.0 != "id" })
        }
        let book = try compileAPIRule(document)
        try state.withLock { (state) throws(ChangeError) in
            guard let index = state.apiRules.firstIndex(where: { $0.id == id }) else { throw .unknown(id) }
            state.apiRules[index] = APIRule(id: id, document: document, book: book)
            publish(state.book, state.chaosBook, state.apiRules)
        }
    }

    public func removeRule(_ id: String) throws(ChangeError) {
        try state.withLock { (state) throws(ChangeError) in
            guard let index = state.apiRules.firstIndex(where: { $0.id == id }) else { throw .unknown(id) }
            state.apiRules.remove(at: index)
            publish(state.book, state.chaosBook, state.apiRules)
        }
    }

    public func removeAllRules() {
        state.withLock { state in
            state.apiRules = []
            publish(state.book, state.chaosBook, state.apiRules)
        }
    }

    private func compileAPIRule(_ document: ConfigValue) throws(ChangeError) -> RuleBook {
        do {
            let rules = try RuleDecoder.decode(.list([document]), origin: "api")
            return makeBook(rules)
        } catch {
            throw .invalid(error)
        }
    }

    /// The extra EHLO keywords, or nil when there are none (one load).
    var extensions: [String]? {
        guard extensionsSet.load(ordering: .acquiring) else { return nil }
        return state.withLock { $0.extensions.isEmpty ? nil : $0.extensions }
    }

    // MARK: - What the API changes

    /// Replaces the behaviours; every one starts a fresh count.
    public func replaceBehaviors(_ behaviors: [JamesBehavior]) throws(RuleError) {
        let book = makeBook(try Self.compile(behaviors))
        state.withLock { state in
            state.behaviors = behaviors
            state.book = book
            publish(book, state.chaosBook, state.apiRules)
        }
    }

    /// Replaces Mailpit's chaos triggers (the James behaviours keep their counts).
    public func replaceChaos(_ chaos: ChaosTriggers) throws(RuleError) {
        let chaosBook = makeBook(try Self.compile(chaos))
        state.withLock { state in
            state.chaos = chaos
            state.chaosBook = chaosBook
            publish(state.book, chaosBook, state.apiRules)
        }
    }

    public var chaos: ChaosTriggers { state.withLock { $0.chaos } }

    /// The behaviours that still have answers left, as configured (James lists no remaining counts).
    public var liveBehaviors: [JamesBehavior] {
        let (behaviors, book) = state.withLock { ($0.behaviors, $0.book) }
        return behaviors.enumerated().compactMap { index, behavior in
            guard let limit = behavior.numberOfAnswer else { return behavior }
            return book.answers(ruleID: "james-\(index + 1)") < limit ? behavior : nil
        }
    }

    public func replaceExtensions(_ extensions: [String]) {
        state.withLock { state in
            state.extensions = extensions
            extensionsSet.store(!extensions.isEmpty, ordering: .releasing)
        }
    }

    public var currentExtensions: [String] { state.withLock { $0.extensions } }

    /// Back to the configured behaviours, with fresh counts, no chaos and no extensions.
    public func reset() {
        removeAllRules()
        try? replaceChaos(ChaosTriggers())
        try? replaceBehaviors(baseline)
        replaceExtensions([])
    }
}
