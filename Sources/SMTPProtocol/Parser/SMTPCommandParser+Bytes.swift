/// The commands of a mail transaction, parsed over the line's bytes.
///
/// Every message brings MAIL, RCPT and DATA (and RSET or QUIT between
/// messages); parsing them through `String` and `Substring` cost more
/// instructions than the rest of the session. This parser reads the bytes in
/// place and only builds the `String`s the command keeps (the address's two
/// parts, the EHLO domain).
///
/// It is a fast path, not a second grammar: it answers only for lines it is
/// sure of — printable ASCII, the common verbs, `<path>` without quotes or a
/// source route, MAIL's `SIZE`, `BODY` and `SMTPUTF8` — and returns nil for
/// anything else, valid or not. The full parser then decides, so every error
/// reply and every rare form comes from one place. What it returns is exactly
/// what the full parser returns for the same line: the unit tests and the
/// fuzzer (`SinkholeFuzzer`) compare the two on every line they parse.
enum SMTPByteParser {
    static func parse(_ bytes: UnsafeRawBufferPointer) -> SMTPCommand? {
        let count = bytes.count
        guard count >= 4 else { return nil }
        // Printable ASCII only: no control byte, no TAB, nothing that needs UTF-8 validation.
        for index in 0..<count where bytes[index] &- 0x20 >= 0x5F { return nil }
        guard count == 4 || bytes[4] == UInt8(ascii: " ") else { return nil }
        // The verb, lower-cased (every byte is ASCII; `| 0x20` is exact for letters, checked below).
        let verb = UInt32(bytes[0] | 0x20) << 24 | UInt32(bytes[1] | 0x20) << 16
            | UInt32(bytes[2] | 0x20) << 8 | UInt32(bytes[3] | 0x20)
        guard (0..<4).allSatisfy({ isLetter(bytes[$0]) }) else { return nil }
        // The argument without surrounding spaces.
        var start = 4
        var end = count
        while start < end && bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start && bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        switch verb {
        case Verb.mail: return parseMail(bytes, start, end)
        case Verb.rcpt: return parseRcpt(bytes, start, end)
        case Verb.data: return start == end ? .data : nil
        case Verb.rset: return start == end ? .rset : nil
        case Verb.quit: return start == end ? .quit : nil
        case Verb.noop: return .noop
        case Verb.ehlo: return start == end ? nil : .ehlo(domain: string(bytes, start, end))
        case Verb.helo: return start == end ? nil : .helo(domain: string(bytes, start, end))
        default: return nil
        }
    }

    private enum Verb {
        static let mail = key("mail"), rcpt = key("rcpt"), data = key("data"), rset = key("rset")
        static let quit = key("quit"), noop = key("noop"), ehlo = key("ehlo"), helo = key("helo")

        private static func key(_ verb: StaticString) -> UInt32 {
            verb.withUTF8Buffer { $0.reduce(0) { $0 << 8 | UInt32($1) } }
        }
    }

    // mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
    private static func parseMail(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> SMTPCommand? {
        guard let pathStart = afterKeyword(bytes, start, end, "from:"),
              let (path, after) = angledPath(bytes, pathStart, end) else { return nil }
        let reversePath: ReversePath
        if path.isEmpty {
            reversePath = .null
        } else {
            guard let mailbox = mailbox(bytes, path) else { return nil }
            reversePath = .mailbox(mailbox)
        }
        // Mail-parameters = esmtp-param *(SP esmtp-param); only SIZE, BODY and SMTPUTF8 here.
        var parameters: [MailParameter] = []
        var seen: UInt8 = 0
        var index = after
        while index < end {
            while index < end && bytes[index] == UInt8(ascii: " ") { index += 1 }
            guard index < end else { break }
            var wordEnd = index
            while wordEnd < end && bytes[wordEnd] != UInt8(ascii: " ") { wordEnd += 1 }
            var equals = index
            while equals < wordEnd && bytes[equals] != UInt8(ascii: "=") { equals += 1 }
            let keyword = index..<equals
            let value = equals < wordEnd ? (equals + 1)..<wordEnd : nil
            if equalsIgnoringCase(bytes, keyword, "size") {
                guard seen & 1 == 0, let value, let size = decimal(bytes, value) else { return nil }
                seen |= 1
                parameters.append(.size(size))
            } else if equalsIgnoringCase(bytes, keyword, "body") {
                guard seen & 2 == 0, let value else { return nil }
                seen |= 2
                if equalsIgnoringCase(bytes, value, "8bitmime") {
                    parameters.append(.body(.eightBitMIME))
                } else if equalsIgnoringCase(bytes, value, "7bit") {
                    parameters.append(.body(.sevenBit))
                } else if equalsIgnoringCase(bytes, value, "binarymime") {
                    parameters.append(.body(.binaryMIME))
                } else {
                    return nil
                }
            } else if equalsIgnoringCase(bytes, keyword, "smtputf8") {
                guard seen & 4 == 0, value == nil else { return nil }
                seen |= 4
                parameters.append(.smtpUTF8)
            } else {
                return nil
            }
            index = wordEnd
        }
        return .mail(from: reversePath, parameters: parameters)
    }

    // rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) CRLF
    // (Rcpt-parameters are left to the full parser.)
    private static func parseRcpt(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> SMTPCommand? {
        guard let pathStart = afterKeyword(bytes, start, end, "to:"),
              let (path, after) = angledPath(bytes, pathStart, end), after == end, !path.isEmpty else { return nil }
        if equalsIgnoringCase(bytes, path, "postmaster") { return .rcpt(to: .postmaster) }
        guard let mailbox = mailbox(bytes, path) else { return nil }
        return .rcpt(to: .mailbox(mailbox))
    }

    /// Where the path starts after `keyword` (lower-case, ending in `:`) and any spaces.
    private static func afterKeyword(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                                     _ keyword: StaticString) -> Int?
    {
        let length = keyword.utf8CodeUnitCount
        guard end - start >= length, equalsIgnoringCase(bytes, start..<(start + length), keyword) else { return nil }
        var index = start + length
        while index < end && bytes[index] == UInt8(ascii: " ") { index += 1 }
        return index
    }

    /// `<path>`, its content's range and where the text after it starts; nil for a path
    /// without brackets, with a quote, a backslash or a second `<`, or too long.
    private static func angledPath(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int)
        -> (path: Range<Int>, after: Int)?
    {
        guard start < end, bytes[start] == UInt8(ascii: "<") else { return nil }
        var index = start + 1
        while index < end {
            switch bytes[index] {
            case UInt8(ascii: ">"):
                let after = index + 1
                guard after == end || bytes[after] == UInt8(ascii: " "),
                      index - start + 1 <= SMTPDefaults.pathLengthLimit else { return nil }
                return ((start + 1)..<index, after)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "<"):
                return nil
            default:
                index += 1
            }
        }
        return nil
    }

    // Mailbox = Local-part "@" Domain, the local part a Dot-string (no quoted string,
    // no address literal, no source route here).
    private static func mailbox(_ bytes: UnsafeRawBufferPointer, _ path: Range<Int>) -> Mailbox? {
        guard bytes[path.lowerBound] != UInt8(ascii: "@") else { return nil }
        var at = path.upperBound - 1
        while at >= path.lowerBound && bytes[at] != UInt8(ascii: "@") { at -= 1 }
        guard at >= path.lowerBound else { return nil }
        let local = path.lowerBound..<at
        let domain = (at + 1)..<path.upperBound
        guard !local.isEmpty, !domain.isEmpty, bytes[domain.lowerBound] != UInt8(ascii: "["),
              isDotString(bytes, local), isDotString(bytes, domain) else { return nil }
        return Mailbox(localPart: string(bytes, local.lowerBound, local.upperBound),
                       domain: string(bytes, domain.lowerBound, domain.upperBound))
    }

    /// Dot-separated non-empty atoms without specials `()<>[]:;@\,"` or space.
    private static func isDotString(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var previous = UInt8(ascii: ".")
        for index in range {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "["),
                 UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "\\"),
                 UInt8(ascii: ","), UInt8(ascii: "\""), UInt8(ascii: " "):
                return false
            case UInt8(ascii: "."):
                if previous == UInt8(ascii: ".") { return false }
            default:
                break
            }
            previous = byte
        }
        return previous != UInt8(ascii: ".")
    }

    /// 1 to 20 digits, as the full parser takes SIZE; a value beyond `Int.max` is `Int.max`.
    private static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard (1...20).contains(range.count) else { return nil }
        var value = 0
        var overflow = false
        for index in range {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int(digit))
            overflow = overflow || o1 || o2
            value = sum
        }
        return overflow ? .max : value
    }

    /// Whether the bytes in `range` are `text` (lower-case ASCII) in any case.
    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>,
                                           _ text: StaticString) -> Bool
    {
        guard range.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { expected in
            var offset = 0
            for index in range {
                let byte = bytes[index]
                let wanted = expected[offset]
                // Letters compare without case; anything else exactly.
                guard byte == wanted || (isLetter(wanted) && byte | 0x20 == wanted) else { return false }
                offset += 1
            }
            return true
        }
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) &- UInt8(ascii: "a") < 26
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }
}
