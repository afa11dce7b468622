import struct NIOCore.ByteBuffer

/// Parses one command line (without its CRLF) into an ``SMTPCommand``.
///
/// Verbs are matched case-insensitively from a table; each entry's function
/// has the RFC 5321 ABNF above it. A malformed line gives an
/// ``SMTPParseError`` carrying the precise reply, never a crash.
public enum SMTPCommandParser {
    public static func parse(_ line: ByteBuffer) -> Result<SMTPCommand, SMTPParseError> {
        // Commands are text: no NUL or other control bytes (TAB aside), and valid UTF-8.
        let bytes = line.readableBytesView
        guard !bytes.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }),
              let text = String(validating: bytes, as: UTF8.self)
        else { return .failure(SMTPParseError(.invalidCharacters)) }
        return parse(text)
    }

    public static func parse(_ line: String) -> Result<SMTPCommand, SMTPParseError> {
        guard !line.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) else {
            return .failure(SMTPParseError(.invalidCharacters))
        }
        let verb = line.prefix { $0 != " " && $0 != "\t" }
        var argument = line.dropFirst(verb.count)
        argument = argument.drop { $0 == " " || $0 == "\t" }
        argument = argument.trimmingSMTPWhitespace()
        guard verb.utf8.count <= 16, let entry = verbs[verb.uppercased()] else {
            return .failure(SMTPParseError(.commandUnrecognized))
        }
        do {
            return .success(try entry(argument))
        } catch {
            return .failure(error)
        }
    }

    private typealias VerbParser = @Sendable (Substring) throws(SMTPParseError) -> SMTPCommand

    private static let verbs: [String: VerbParser] = [
        "HELO": parseHelo,
        "EHLO": parseEhlo,
        "MAIL": parseMail,
        "RCPT": parseRcpt,
        "DATA": { (argument) throws(SMTPParseError) in try noArguments("DATA", argument, .data) },
        "RSET": { (argument) throws(SMTPParseError) in try noArguments("RSET", argument, .rset) },
        "QUIT": { (argument) throws(SMTPParseError) in try noArguments("QUIT", argument, .quit) },
        // noop = "NOOP" [ SP String ] CRLF
        "NOOP": { _ in .noop },
        // help = "HELP" [ SP String ] CRLF
        "HELP": { _ in .help },
        "VRFY": parseVrfy,
        "STARTTLS": { _ in .notImplemented(verb: "STARTTLS") },
        "AUTH": { _ in .notImplemented(verb: "AUTH") },
        "BDAT": { _ in .notImplemented(verb: "BDAT") },
        "EXPN": { _ in .notImplemented(verb: "EXPN") },
        "ETRN": { _ in .notImplemented(verb: "ETRN") },
        "TURN": { _ in .notImplemented(verb: "TURN") },
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
            default:
                throw SMTPParseError(.unsupportedParameter(keyword))
            }
        }
        return .mail(from: reversePath, parameters: parameters)
    }

    // rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters] CRLF
    private static func parseRcpt(_ argument: Substring) throws(SMTPParseError) -> SMTPCommand {
        guard let rest = dropKeyword("TO:", from: argument) else { throw SMTPParseError(.rcptSyntax) }
        guard !rest.isEmpty else { throw SMTPParseError(.badRecipientAddress) }
        let (path, parameterText) = try splitPath(rest, syntaxError: .rcptSyntax)
        if let keyword = parameterText.split(separator: " ").first {
            throw SMTPParseError(.unsupportedParameter(keyword.prefix { $0 != "=" }.uppercased()))
        }
        if path.lowercased() == "postmaster" { return .rcpt(to: .postmaster) }
        guard !path.isEmpty, let mailbox = parseMailbox(path) else {
            throw SMTPParseError(.badRecipientAddress)
        }
        return .rcpt(to: .mailbox(mailbox))
    }

    /// `"FROM:<a@b>"` → `"<a@b>"`; tolerates spaces after the colon, as most servers do.
    private static func dropKeyword(_ keyword: String, from argument: Substring) -> Substring? {
        guard argument.count >= keyword.count,
              argument.prefix(keyword.count).uppercased() == keyword
        else { return nil }
        return argument.dropFirst(keyword.count).drop { $0 == " " }
    }

    /// Splits `<path> params` into the path's content and the parameters.
    /// Quoted local parts may hold `>` and spaces. A path without angle
    /// brackets is taken up to the first space (a lenient form many clients send).
    private static func splitPath(_ text: Substring, syntaxError: SMTPReply)
        throws(SMTPParseError) -> (path: Substring, parameters: Substring)
    {
        guard text.first == "<" else {
            let path = text.prefix { $0 != " " }
            guard !path.isEmpty, !path.contains("<"), !path.contains(">") else { throw SMTPParseError(syntaxError) }
            return (path, text.dropFirst(path.count).drop { $0 == " " })
        }
        var inQuotes = false
        var escaped = false
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let character = text[index]
            if escaped {
                escaped = false
            } else if character == "\\" && inQuotes {
                escaped = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else if character == ">" && !inQuotes {
                let path = text[text.index(after: text.startIndex)..<index]
                let after = text[text.index(after: index)...]
                guard after.isEmpty || after.first == " " else { throw SMTPParseError(syntaxError) }
                guard path.utf8.count + 2 <= SMTPDefaults.pathLengthLimit else { throw SMTPParseError(syntaxError) }
                return (path, after.drop { $0 == " " })
            } else if character == "<" && !inQuotes {
                throw SMTPParseError(syntaxError)
            }
            index = text.index(after: index)
        }
        throw SMTPParseError(syntaxError)
    }

    // Path = "<" [ A-d-l ":" ] Mailbox ">"
    // Mailbox = Local-part "@" ( Domain / address-literal )
    // Local-part = Dot-string / Quoted-string
    static func parseMailbox(_ path: Substring) -> Mailbox? {
        var path = path
        // An obsolete source route, "@a,@b:user@c", is ignored (RFC 5321 §4.1.2).
        if path.first == "@" {
            guard let colon = path.firstIndex(of: ":") else { return nil }
            path = path[path.index(after: colon)...]
        }
        guard let at = path.lastIndex(of: "@") else { return nil }
        let local = path[..<at]
        let domain = path[path.index(after: at)...]
        guard isValidLocalPart(local), isValidDomain(domain) else { return nil }
        return Mailbox(localPart: String(local), domain: String(domain))
    }

    private static func isValidLocalPart(_ local: Substring) -> Bool {
        guard !local.isEmpty, local.utf8.count <= 64 * 4 else { return false }
        if local.first == "\"" {
            return local.count >= 2 && local.last == "\""
        }
        // Dot-string = Atom *("." Atom): no empty atoms, no specials.
        let specials: Set<Character> = ["(", ")", "<", ">", "[", "]", ":", ";", "@", "\\", ",", "\"", " ", "\t"]
        return !local.contains(where: specials.contains)
            && !local.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty)
    }

    private static func isValidDomain(_ domain: Substring) -> Bool {
        guard !domain.isEmpty, domain.utf8.count <= 255 else { return false }
        if domain.first == "[" { return domain.last == "]" && domain.count > 2 }
        let forbidden: Set<Character> = ["(", ")", "<", ">", "[", "]", ":", ";", "@", "\\", ",", "\"", " ", "\t"]
        return !domain.contains(where: forbidden.contains)
            && !domain.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty)
    }
}
