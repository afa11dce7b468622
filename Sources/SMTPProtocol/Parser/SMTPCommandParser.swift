import struct NIOCore.ByteBuffer
import enum NIOCore.SocketAddress

/// Parses one command line (without its CRLF) into an ``SMTPCommand``.
///
/// Verbs are matched case-insensitively from a table; each entry's function
/// has the RFC 5321 ABNF above it. A malformed line gives an
/// ``SMTPParseError`` carrying the precise reply, never a crash.
public enum SMTPCommandParser {
    public static func parse(_ line: ByteBuffer) -> Result<SMTPCommand, SMTPParseError> {
        // The commands of a transaction in their usual form, without a String (see SMTPByteParser).
        if let command = line.withUnsafeReadableBytes(SMTPByteParser.parse) { return .success(command) }
        return parseInFull(line)
    }

    /// The full parser, without the byte fast path: what the tests and the fuzzer compare it with.
    package static func parseInFull(_ line: ByteBuffer) -> Result<SMTPCommand, SMTPParseError> {
        // Commands are text: no NUL or other control bytes (TAB aside), and valid UTF-8.
        let bytes = line.readableBytesView
        guard !bytes.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }),
              let text = String(validating: bytes, as: UTF8.self)
        else { return .failure(SMTPParseError(.invalidCharacters)) }
        return parseChecked(text)
    }

    public static func parse(_ line: String) -> Result<SMTPCommand, SMTPParseError> {
        guard !line.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else {
            return .failure(SMTPParseError(.invalidCharacters))
        }
        return parseChecked(line)
    }

    /// `line` holds no control characters.
    private static func parseChecked(_ line: String) -> Result<SMTPCommand, SMTPParseError> {
        // The verb ends at the first space or tab: ASCII, so a UTF-8 index is a valid String index.
        let utf8 = line.utf8
        let verbEnd = utf8.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } ?? utf8.endIndex
        guard let key = verbKey(utf8[utf8.startIndex..<verbEnd]), let entry = parser(for: key) else {
            return .failure(SMTPParseError(.commandUnrecognized))
        }
        // The line holds no CR or LF (control characters were refused): only
        // spaces and tabs are trimmed.
        let argument = line[verbEnd...].trimmingBlanks()
        do {
            return .success(try entry(argument))
        } catch {
            return .failure(error)
        }
    }

    /// A verb of up to 8 ASCII letters, upper-cased and packed into an integer
    /// (the table's key), so matching a verb allocates nothing; nil for anything else.
    private static func verbKey<Bytes: Collection<UInt8>>(_ verb: Bytes) -> UInt64? {
        guard !verb.isEmpty, verb.count <= 8 else { return nil }
        var key: UInt64 = 0
        for byte in verb {
            let upper = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 32 : byte
            guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(upper) else { return nil }
            key = key << 8 | UInt64(upper)
        }
        return key
    }

    private typealias VerbParser = @Sendable (Substring) throws(SMTPParseError) -> SMTPCommand

    /// The table's keys and parsers, searched in order: a few integer compares for the
    /// common verbs cost less than hashing the key into a dictionary.
    private static let verbKeys: [UInt64] = verbTable.map { verbKey($0.0.utf8)! }
    private static let verbParsers: [VerbParser] = verbTable.map(\.1)

    private static func parser(for key: UInt64) -> VerbParser? {
        verbKeys.firstIndex(of: key).map { verbParsers[$0] }
    }

    /// The most frequent verbs first (the order of a mail transaction).
    private static let verbTable: [(String, VerbParser)] = [
        ("MAIL", parseMail),
        ("RCPT", parseRcpt),
        ("DATA", { (argument) throws(SMTPParseError) in try noArguments("DATA", argument, .data) }),
        ("QUIT", { (argument) throws(SMTPParseError) in try noArguments("QUIT", argument, .quit) }),
        ("EHLO", parseEhlo),
        ("HELO", parseHelo),
        ("RSET", { (argument) throws(SMTPParseError) in try noArguments("RSET", argument, .rset) }),
        ("LHLO", { (argument) throws(SMTPParseError) in
            guard !argument.isEmpty else { throw SMTPParseError(.lhloSyntax) }
            return .lhlo(domain: String(argument))
        }),
        // noop = "NOOP" [ SP String ] CRLF
        ("NOOP", { _ in .noop }),
        // help = "HELP" [ SP String ] CRLF
        ("HELP", { _ in .help }),
        ("VRFY", parseVrfy),
        ("STARTTLS", { (argument) throws(SMTPParseError) in try noArguments("STARTTLS", argument, .startTLS) }),
        ("AUTH", parseAuth),
        ("BDAT", parseBdat),
        ("XCLIENT", { (argument) throws(SMTPParseError) in .xclient(try proxyAttributes("XCLIENT", argument, ProxyAttribute.xclientNames)) }),
        ("XFORWARD", { (argument) throws(SMTPParseError) in .xforward(try proxyAttributes("XFORWARD", argument, ProxyAttribute.xforwardNames)) }),
        ("EXPN", { _ in .notImplemented(verb: "EXPN") }),
        ("ETRN", { _ in .notImplemented(verb: "ETRN") }),
        ("TURN", { _ in .notImplemented(verb: "TURN") }),
    ]

    private static func noArguments(_ verb: String, _ argument: Substring, _ command: SMTPCommand)
        throws(SMTPParseError) -> SMTPCommand
    {
        guard argument.isEmpty else { throw SMTPParseError(.noParameters(verb)) }
        return command
    }

    // helo = "HELO" SP Domain CRLF
    private static func parseHelo(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        guard !argument.isEmpty else { throw SMTPParseError(.heloSyntax) }
        return .helo(domain: String(argument))
    }

    // ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
    private static func parseEhlo(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        guard !argument.isEmpty else { throw SMTPParseError(.ehloSyntax) }
        return .ehlo(domain: String(argument))
    }

    // auth = "AUTH" SP sasl-mech [SP initial-response] CRLF (RFC 4954 §4)
    // sasl-mech = 1*20(UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE)
    private static func parseAuth(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        let words = argument.split(separator: " ", omittingEmptySubsequences: true)
        guard (1...2).contains(words.count), let mechanism = words.first, mechanism.count <= 20,
              mechanism.allSatisfy({ ($0.isASCII && $0.isLetter) || $0.isASCIIDigit || $0 == "-" || $0 == "_" }) else {
            throw SMTPParseError(.authSyntax)
        }
        return .auth(mechanism: mechanism.uppercased(), initialResponse: words.count == 2 ? String(words[1]) : nil)
    }

    // vrfy = "VRFY" SP String CRLF
    private static func parseVrfy(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        guard !argument.isEmpty else { throw SMTPParseError(.vrfySyntax) }
        return .vrfy(String(argument))
    }

    // mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
    // Reverse-path = Path / "<>"
    // Mail-parameters = esmtp-param *(SP esmtp-param)
    // esmtp-param = esmtp-keyword ["=" esmtp-value]
    private static func parseMail(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        guard let rest = dropKeyword("FROM:", from: argument) else { throw SMTPParseError(.mailSyntax) }
        let (path, parameterText) = try splitPath(rest, syntaxError: .mailSyntax)
        let reversePath: ReversePath
        if path.isEmpty {
            reversePath = .null
        } else {
            guard let mailbox = parseMailbox(path) else { throw SMTPParseError(.badSenderAddress) }
            reversePath = .mailbox(mailbox)
        }
        var parameters: [MailParameter] = []
        var seen: Set<String> = []
        for word in parameterText.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            let keyword = word.prefix { $0 != "=" }.uppercased()
            let value: Substring? = word.contains("=") ? word.drop { $0 != "=" }.dropFirst() : nil
            guard seen.insert(keyword).inserted else { throw SMTPParseError(.duplicateParameter(keyword)) }
            switch keyword {
            case "SIZE":
                guard let value, !value.isEmpty, value.count <= 20, value.allSatisfy(\.isASCIIDigit) else {
                    throw SMTPParseError(.badParameterValue("SIZE"))
                }
                parameters.append(.size(Int(value) ?? Int.max))
            case "BODY":
                guard let value, let body = BodyType(rawValue: value.uppercased()) else {
                    throw SMTPParseError(.badParameterValue("BODY"))
                }
                parameters.append(.body(body))
            case "SMTPUTF8":
                guard value == nil else { throw SMTPParseError(.badParameterValue("SMTPUTF8")) }
                parameters.append(.smtpUTF8)
            case "RET", "ENVID":
                parameters.append(try dsnParameter(DSNKeyword(rawValue: keyword)!, value))
            default:
                // Whether an advertised extension owns it is the session's to say.
                guard !keyword.isEmpty else { throw SMTPParseError(.mailSyntax) }
                parameters.append(.other(keyword: String(word.prefix { $0 != "=" }), value: value.map(String.init)))
            }
        }
        return .mail(from: reversePath, parameters: parameters)
    }

    // rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters] CRLF
    private static func parseRcpt(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        guard let rest = dropKeyword("TO:", from: argument) else { throw SMTPParseError(.rcptSyntax) }
        guard !rest.isEmpty else { throw SMTPParseError(.badRecipientAddress) }
        let (path, parameterText) = try splitPath(rest, syntaxError: .rcptSyntax)
        var parameters: [MailParameter] = []
        if !parameterText.isEmpty {
            var seen: Set<String> = []
            for word in parameterText.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                let keyword = word.prefix { $0 != "=" }
                guard !keyword.isEmpty else { throw SMTPParseError(.rcptSyntax) }
                guard seen.insert(keyword.uppercased()).inserted else {
                    throw SMTPParseError(.duplicateParameter(keyword.uppercased()))
                }
                let value: Substring? = word.contains("=") ? word.drop { $0 != "=" }.dropFirst() : nil
                switch keyword.uppercased() {
                case "NOTIFY": parameters.append(try dsnParameter(.notify, value))
                case "ORCPT": parameters.append(try dsnParameter(.orcpt, value))
                default: parameters.append(.other(keyword: String(keyword), value: value.map(String.init)))
                }
            }
        }
        if path.utf8.elementsEqual("postmaster".utf8, by: { $0 | 0x20 == $1 }) {
            return .rcpt(to: .postmaster, parameters: parameters)
        }
        guard !path.isEmpty, let mailbox = parseMailbox(path) else {
            throw SMTPParseError(.badRecipientAddress)
        }
        return .rcpt(to: .mailbox(mailbox), parameters: parameters)
    }

    // bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF (RFC 3030 §2)
    // chunk-size = 1*DIGIT
    // end-marker = "LAST"
    private static func parseBdat(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        let words = argument.split(whereSeparator: { $0 == " " || $0 == "\t" })
        // 18 digits at most: below Int.max, and far beyond any message size limit.
        guard (1...2).contains(words.count), let size = words.first, (1...18).contains(size.utf8.count),
              size.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let octets = Int(size)
        else { throw SMTPParseError(.bdatSyntax) }
        if words.count == 2 {
            guard words[1].utf8.elementsEqual("LAST".utf8, by: { $0 & 0xDF == $1 }) else { throw SMTPParseError(.bdatSyntax) }
        }
        return .bdat(size: octets, last: words.count == 2)
    }

    // xclient-command = XCLIENT 1*( SP attribute-name"="attribute-value ) (Postfix's XCLIENT_README)
    // attribute-value = xtext; "[UNAVAILABLE]" and "[TEMPUNAVAIL]": not known.
    // ADDR is an IPv4 address or "IPV6:" and an IPv6 address; PORT and DESTPORT 0-65535.
    private static func proxyAttributes(_ verb: String, _ argument: Substring, _ names: [String])
        throws(SMTPParseError) -> [ProxyAttribute]
    {
        let words = argument.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard !words.isEmpty else { throw SMTPParseError(.proxySyntax(verb)) }
        var attributes: [ProxyAttribute] = []
        for word in words {
            guard let equals = word.firstIndex(of: "=") else { throw SMTPParseError(.proxySyntax(verb)) }
            let name = word[..<equals].uppercased()
            guard names.contains(name) else { throw SMTPParseError(.proxyAttributeName(verb, String(word[..<equals]))) }
            let raw = word[word.index(after: equals)...]
            if raw == "[UNAVAILABLE]" || raw == "[TEMPUNAVAIL]" {
                attributes.append(ProxyAttribute(name, nil))
                continue
            }
            guard let value = decodeXText(raw) else { throw SMTPParseError(.proxyAttributeValue(verb, name)) }
            switch name {
            case "ADDR", "DESTADDR":
                guard let address = IPAddressText.bare(value) else { throw SMTPParseError(.proxyAttributeValue(verb, name)) }
                attributes.append(ProxyAttribute(name, address))
                continue
            case "PORT", "DESTPORT":
                guard (1...5).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                      let port = Int(value), port <= 65535 else { throw SMTPParseError(.proxyAttributeValue(verb, name)) }
            case "PROTO":
                guard ["SMTP", "ESMTP"].contains(value.uppercased()) else { throw SMTPParseError(.proxyAttributeValue(verb, name)) }
            default:
                break
            }
            attributes.append(ProxyAttribute(name, value))
        }
        return attributes
    }

    /// xtext's `+HH` decoded (RFC 3461 §4); nil for a malformed escape or a control character.
    static func decodeXText(_ text: Substring) -> String? {
        var out: [UInt8] = []
        var bytes = text.utf8[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "+") {
                guard bytes.count >= 2, let high = hexValue(bytes.removeFirst()), let low = hexValue(bytes.removeFirst()) else { return nil }
                out.append(high << 4 | low)
            } else {
                out.append(byte)
            }
        }
        guard !out.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    // RFC 3461 §4: ret-value = "FULL" / "HDRS"; envid-value = xtext (at most 100 characters);
    // notify-esmtp-value = "NEVER" / 1#notify-list-element, notify-list-element = "SUCCESS" / "FAILURE" / "DELAY";
    // orcpt-value = addr-type ";" xtext (at most 500 characters), addr-type = atom.
    private static func dsnParameter(_ keyword: DSNKeyword, _ value: Substring?) throws(SMTPParseError) -> MailParameter {
        let bad = SMTPParseError(.badParameterValue(keyword.rawValue))
        guard let value, !value.isEmpty else { throw bad }
        switch keyword {
        case .ret:
            let upper = value.uppercased()
            guard upper == "FULL" || upper == "HDRS" else { throw bad }
            return .dsn(.ret, upper)
        case .envid:
            guard value.utf8.count <= 100, isXText(value.utf8) else { throw bad }
            return .dsn(.envid, String(value))
        case .notify:
            let upper = value.uppercased()
            let items = upper.split(separator: ",", omittingEmptySubsequences: false)
            if items == ["NEVER"] { return .dsn(.notify, upper) }
            guard Set(items).count == items.count,
                  items.allSatisfy({ $0 == "SUCCESS" || $0 == "FAILURE" || $0 == "DELAY" }) else { throw bad }
            return .dsn(.notify, upper)
        case .orcpt:
            guard value.utf8.count <= 500, let semicolon = value.utf8.firstIndex(of: UInt8(ascii: ";")) else { throw bad }
            let type = value[..<semicolon]
            let address = value[value.utf8.index(after: semicolon)...]
            guard !type.isEmpty, isDotString(type.utf8), !type.contains("."), !address.isEmpty else { throw bad }
            // RFC 6533's utf-8-addr-xtext: UTF-8 allowed as it is.
            let utf8Type = type.utf8.elementsEqual("utf-8".utf8, by: { $0 | 0x20 == $1 })
            guard isXText(address.utf8, allowingUTF8: utf8Type) else { throw bad }
            return .dsn(.orcpt, String(value))
        }
    }

    /// xtext (RFC 3461 §4): `!` to `~` but `+` and `=`, and `+` followed by two upper-case hex digits.
    private static func isXText(_ bytes: Substring.UTF8View, allowingUTF8: Bool = false) -> Bool {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                for _ in 0..<2 {
                    bytes.formIndex(after: &index)
                    guard index < bytes.endIndex, isUpperHex(bytes[index]) else { return false }
                }
            } else if byte == UInt8(ascii: "=") || byte < 33 || byte == 127 || (byte > 127 && !allowingUTF8) {
                return false
            }
            bytes.formIndex(after: &index)
        }
        return true
    }

    private static func isUpperHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// `"FROM:<a@b>"` → `"<a@b>"`; tolerates spaces after the colon, as most servers do.
    private static func dropKeyword(_ keyword: String, from argument: Substring) -> Substring? {
        // ASCII keyword, compared byte by byte without case: no upper-cased copy.
        let utf8 = argument.utf8
        guard utf8.count >= keyword.utf8.count,
              zip(utf8, keyword.utf8).allSatisfy({ byte, expected in
                  byte == expected || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") && byte - 32 == expected)
              })
        else { return nil }
        let end = utf8.index(utf8.startIndex, offsetBy: keyword.utf8.count)
        return argument[end...].droppingLeading(UInt8(ascii: " "))
    }

    /// Splits `<path> params` into the path's content and the parameters.
    /// Quoted local parts may hold `>` and spaces. A path without angle
    /// brackets is taken up to the first space (a lenient form many clients send).
    ///
    /// Bytes, not Characters: every delimiter is ASCII, so each index found is
    /// a valid place to cut the text, and no grapheme breaking is paid for.
    private static func splitPath(_ text: Substring, syntaxError: SMTPReply)
        throws(SMTPParseError) -> (path: Substring, parameters: Substring)
    {
        let utf8 = text.utf8
        guard utf8.first == UInt8(ascii: "<") else {
            let end = utf8.firstIndex(of: UInt8(ascii: " ")) ?? utf8.endIndex
            let path = text[..<end]
            guard !path.isEmpty, !path.utf8.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") })
            else { throw SMTPParseError(syntaxError) }
            return (path, text[end...].droppingLeading(UInt8(ascii: " ")))
        }
        var inQuotes = false
        var escaped = false
        let start = utf8.index(after: utf8.startIndex)
        var index = start
        while index < utf8.endIndex {
            let byte = utf8[index]
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") && inQuotes {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if byte == UInt8(ascii: ">") && !inQuotes {
                let path = text[start..<index]
                let after = text[utf8.index(after: index)...]
                guard after.utf8.isEmpty || after.utf8.first == UInt8(ascii: " ") else { throw SMTPParseError(syntaxError) }
                guard path.utf8.count + 2 <= SMTPDefaults.pathLengthLimit else { throw SMTPParseError(syntaxError) }
                return (path, after.droppingLeading(UInt8(ascii: " ")))
            } else if byte == UInt8(ascii: "<") && !inQuotes {
                throw SMTPParseError(syntaxError)
            }
            utf8.formIndex(after: &index)
        }
        throw SMTPParseError(syntaxError)
    }

    // Path = "<" [ A-d-l ":" ] Mailbox ">"
    // Mailbox = Local-part "@" ( Domain / address-literal )
    // Local-part = Dot-string / Quoted-string
    static func parseMailbox(_ path: Substring) -> Mailbox? {
        var path = path
        // An obsolete source route, "@a,@b:user@c", is ignored (RFC 5321 §4.1.2).
        if path.utf8.first == UInt8(ascii: "@") {
            guard let colon = path.utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
            path = path[path.utf8.index(after: colon)...]
        }
        guard let at = path.utf8.lastIndex(of: UInt8(ascii: "@")) else { return nil }
        let local = path[..<at]
        let domain = path[path.utf8.index(after: at)...]
        guard isValidLocalPart(local), isValidDomain(domain) else { return nil }
        return Mailbox(localPart: String(local), domain: String(domain))
    }

    private static func isValidLocalPart(_ local: Substring) -> Bool {
        guard !local.isEmpty, local.utf8.count <= 64 * 4 else { return false }
        if local.utf8.first == UInt8(ascii: "\"") {
            return local.utf8.count >= 2 && local.utf8.last == UInt8(ascii: "\"")
        }
        // Dot-string = Atom *("." Atom): no empty atoms, no specials.
        return isDotString(local.utf8)
    }

    private static func isValidDomain(_ domain: Substring) -> Bool {
        guard !domain.isEmpty, domain.utf8.count <= 255 else { return false }
        if domain.utf8.first == UInt8(ascii: "[") { return domain.utf8.last == UInt8(ascii: "]") && domain.utf8.count > 2 }
        return isDotString(domain.utf8)
    }

    /// Dot-separated non-empty parts without specials `()<>[]:;@\,"`, space or tab.
    /// Bytes, not Characters: every special is ASCII, and this runs for every MAIL and RCPT.
    private static func isDotString(_ bytes: Substring.UTF8View) -> Bool {
        var previous = UInt8(ascii: ".")  // a leading dot is an empty part
        for byte in bytes {
            if byte < 0x80 && specials[Int(byte)] { return false }
            if byte == UInt8(ascii: ".") && previous == UInt8(ascii: ".") { return false }
            previous = byte
        }
        return previous != UInt8(ascii: ".")
    }

    private static let specials: [Bool] = {
        var table = [Bool](repeating: false, count: 128)
        for byte in "()<>[]:;@\\,\" \t".utf8 { table[Int(byte)] = true }
        return table
    }()
}

extension Substring {
    /// Without leading `byte`s (an ASCII byte, so the cut is a valid index).
    func droppingLeading(_ byte: UInt8) -> Substring {
        let utf8 = self.utf8
        var index = utf8.startIndex
        while index < utf8.endIndex && utf8[index] == byte { utf8.formIndex(after: &index) }
        return self[index...]
    }

    /// Without leading and trailing spaces and tabs.
    func trimmingBlanks() -> Substring {
        let utf8 = self.utf8
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = utf8.firstIndex(where: { !isBlank($0) }),
              let last = utf8.lastIndex(where: { !isBlank($0) })
        else { return self[endIndex...] }
        // After the last non-blank byte: the end of a character, since a blank or the end follows.
        return self[first..<utf8.index(after: last)]
    }
}

/// An IP address as XCLIENT and XFORWARD write it: IPv4, or `IPV6:` and IPv6.
public enum IPAddressText {
    /// The address without `IPV6:`, if it is one; nil otherwise.
    public static func bare(_ text: String) -> String? {
        var address = Substring(text)
        if address.utf8.count > 5, address.prefix(5).uppercased() == "IPV6:" { address = address.dropFirst(5) }
        guard let parsed = try? SocketAddress(ipAddress: String(address), port: 0) else { return nil }
        // An IPv6 address needs its prefix (a bare one is taken too, as Postfix does).
        return parsed.ipAddress
    }
}
