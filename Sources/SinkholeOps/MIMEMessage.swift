import Foundation

/// What Mailpit's API shows of a message, read from its raw bytes: the
/// headers, the addresses, the first text and HTML parts, the attachments.
///
/// Lenient, as a capture tool must be: a header it cannot read is empty, a
/// part it cannot decode is kept as it came. Multipart nesting is followed
/// to a fixed depth.
struct MIMEMessage {
    struct Address: Hashable {
        var name: String
        var address: String
    }

    struct Part {
        var partID: String
        var fileName: String
        var contentType: String
        var contentID: String
        var size: Int
        var inline: Bool
    }

    /// Header fields in order, unfolded; names as written.
    var headers: [(name: String, value: String)] = []
    var text = ""
    var html = ""
    var attachments: [Part] = []
    var inline: [Part] = []

    init(_ raw: [UInt8]) {
        let (head, body) = Self.split(raw[...])
        headers = Self.parseHeaders(head)
        walk(headers: headers, body: body, partID: "", depth: 0)
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    var subject: String { Self.decodeWords(header("Subject") ?? "") }
    var messageID: String {
        (header("Message-ID") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: " <>\t"))
    }
    func addresses(_ name: String) -> [Address] {
        headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.flatMap { Self.parseAddresses($0.value) }
    }

    /// Up to 250 characters of the text (or the HTML without tags), white space collapsed.
    var snippet: String {
        var source = text
        if source.isEmpty {
            source = html.replacingOccurrences(of: "<[^>]*>", with: " ", options: .regularExpression)
        }
        let words = source.split(whereSeparator: { $0.isWhitespace })
        var out = ""
        for word in words {
            if !out.isEmpty { out += " " }
            out += word
            if out.count >= 250 { break }
        }
        return String(out.prefix(250))
    }

    // MARK: - Structure

    private mutating func walk(headers: [(name: String, value: String)], body: ArraySlice<UInt8>, partID: String, depth: Int) {
        let contentType = Self.value(headers, "Content-Type") ?? "text/plain"
        let (type, parameters) = Self.parseContentType(contentType)
        if type.hasPrefix("multipart/"), depth < 8, let boundary = parameters["boundary"], !boundary.isEmpty {
            for (index, part) in Self.splitMultipart(body, boundary: boundary).enumerated() {
                let (head, partBody) = Self.split(part)
                let id = partID.isEmpty ? String(index + 1) : "\(partID).\(index + 1)"
                walk(headers: Self.parseHeaders(head), body: partBody, partID: id, depth: depth + 1)
            }
            return
        }
        let encoding = (Self.value(headers, "Content-Transfer-Encoding") ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        let decoded = Self.decode(body, encoding: encoding)
        let disposition = Self.parseContentType(Self.value(headers, "Content-Disposition") ?? "")
        let fileName = Self.decodeWords(disposition.parameters["filename"] ?? parameters["name"] ?? "")
        let isAttachment = disposition.type == "attachment" || !fileName.isEmpty
        if !isAttachment && type == "text/plain" && text.isEmpty && depth <= 8 {
            text = Self.string(decoded, charset: parameters["charset"])
            return
        }
        if !isAttachment && type == "text/html" && html.isEmpty {
            html = Self.string(decoded, charset: parameters["charset"])
            return
        }
        if partID.isEmpty && !isAttachment && type.hasPrefix("text/") { return }
        let contentID = (Self.value(headers, "Content-ID") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: " <>\t"))
        let part = Part(partID: partID.isEmpty ? "1" : partID, fileName: fileName, contentType: type, contentID: contentID,
                        size: decoded.count, inline: disposition.type == "inline" && !contentID.isEmpty)
        if part.inline { inline.append(part) } else { attachments.append(part) }
    }

    // MARK: - Pieces

    /// The header block and the body, split at the first empty line (CRLF or bare LF).
    static func split(_ bytes: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        var index = bytes.startIndex
        if bytes.first == 10 { return (bytes[index..<index], bytes.dropFirst()) }
        if bytes.starts(with: [13, 10]) { return (bytes[index..<index], bytes.dropFirst(2)) }
        while index < bytes.endIndex {
            if bytes[index] == 10 {
                let next = index + 1
                if next < bytes.endIndex && bytes[next] == 10 { return (bytes[..<next], bytes[(next + 1)...]) }
                if next + 1 < bytes.endIndex && bytes[next] == 13 && bytes[next + 1] == 10 {
                    return (bytes[..<next], bytes[(next + 2)...])
                }
            }
            index += 1
        }
        return (bytes, bytes[bytes.endIndex...])
    }

    static func parseHeaders(_ block: ArraySlice<UInt8>) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        let text = String(decoding: block, as: UTF8.self)
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            if line.first == " " || line.first == "\t" {
                if !out.isEmpty { out[out.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces) }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            out.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                        String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        return out
    }

    static func value(_ headers: [(name: String, value: String)], _ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// `text/plain; charset="utf-8"` → ("text/plain", ["charset": "utf-8"]).
    static func parseContentType(_ value: String) -> (type: String, parameters: [String: String]) {
        let pieces = splitOutsideQuotes(value, separator: ";")
        let type = (pieces.first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let key = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            parameters[key] = value
        }
        return (type, parameters)
    }

    static func splitOutsideQuotes(_ text: String, separator: Character) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false, angle = 0, escaped = false
        for character in text {
            if escaped { current.append(character); escaped = false; continue }
            switch character {
            case "\\" where quoted: escaped = true; current.append(character)
            case "\"": quoted.toggle(); current.append(character)
            case "<" where !quoted: angle += 1; current.append(character)
            case ">" where !quoted: angle = max(0, angle - 1); current.append(character)
            case separator where !quoted && angle == 0: out.append(current); current = ""
            default: current.append(character)
            }
        }
        out.append(current)
        return out
    }

    /// The parts of a multipart body, between `--boundary` lines, up to `--boundary--`.
    static func splitMultipart(_ body: ArraySlice<UInt8>, boundary: String) -> [ArraySlice<UInt8>] {
        let marker = Array("--\(boundary)".utf8)
        var parts: [ArraySlice<UInt8>] = []
        var lineStart = body.startIndex
        var partStart: Int?
        var index = body.startIndex
        while lineStart < body.endIndex {
            index = body[lineStart...].firstIndex(of: 10) ?? body.endIndex
            let line = body[lineStart..<index]
            if line.starts(with: marker) {
                let rest = line.dropFirst(marker.count)
                // The line break before a boundary belongs to the boundary.
                if let start = partStart {
                    var end = lineStart
                    if end > start && body[end - 1] == 10 { end -= 1 }
                    if end > start && body[end - 1] == 13 { end -= 1 }
                    parts.append(body[start..<max(start, end)])
                }
                if rest.starts(with: [45, 45]) { return parts }
                partStart = index < body.endIndex ? index + 1 : body.endIndex
            }
            lineStart = index < body.endIndex ? index + 1 : body.endIndex
        }
        if let start = partStart, start < body.endIndex { parts.append(body[start...]) }
        return parts
    }

    static func decode(_ body: ArraySlice<UInt8>, encoding: String) -> [UInt8] {
        switch encoding {
        case "base64":
            let compact = body.filter { !($0 == 10 || $0 == 13 || $0 == 32 || $0 == 9) }
            return Data(base64Encoded: Data(compact), options: .ignoreUnknownCharacters).map(Array.init) ?? Array(body)
        case "quoted-printable":
            return quotedPrintable(body, underscoreIsSpace: false)
        default:
            return Array(body)
        }
    }

    static func quotedPrintable(_ bytes: some Collection<UInt8>, underscoreIsSpace: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var iterator = Array(bytes)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "_") && underscoreIsSpace { out.append(32); continue }
            guard byte == UInt8(ascii: "=") else { out.append(byte); continue }
            // A soft line break, or two hex digits.
            if iterator.first == 13 { iterator = iterator.dropFirst(); if iterator.first == 10 { iterator = iterator.dropFirst() }; continue }
            if iterator.first == 10 { iterator = iterator.dropFirst(); continue }
            let hex = iterator.prefix(2)
            if hex.count == 2, let value = UInt8(String(decoding: hex, as: UTF8.self), radix: 16) {
                out.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        return out
    }

    static func string(_ bytes: [UInt8], charset: String?) -> String {
        switch (charset ?? "utf-8").lowercased() {
        case "iso-8859-1", "latin1", "iso8859-1", "windows-1252", "cp1252", "us-ascii", "ascii":
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        default:
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// RFC 2047: `=?UTF-8?B?...?=` and `=?ISO-8859-1?Q?...?=`; white space between two encoded words dropped.
    static func decodeWords(_ text: String) -> String {
        guard text.contains("=?") else { return text }
        var out = ""
        var rest = Substring(text)
        var lastWasEncoded = false
        while let start = rest.range(of: "=?") {
            let before = rest[..<start.lowerBound]
            let afterStart = rest[start.upperBound...]
            let fields = afterStart.split(separator: "?", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, fields[3].hasPrefix("="), let encoding = fields[1].first else {
                out += rest[..<start.upperBound]
                rest = afterStart
                lastWasEncoded = false
                continue
            }
            if !(lastWasEncoded && before.allSatisfy(\.isWhitespace)) { out += before }
            let charset = String(fields[0].split(separator: "*").first ?? "utf-8")
            let payload = Array(fields[2].utf8)
            let bytes: [UInt8]
            switch encoding {
            case "B", "b": bytes = Data(base64Encoded: Data(payload), options: .ignoreUnknownCharacters).map(Array.init) ?? payload
            case "Q", "q": bytes = quotedPrintable(payload, underscoreIsSpace: true)
            default: bytes = payload
            }
            out += string(bytes, charset: charset)
            rest = fields[3].dropFirst()
            lastWasEncoded = true
        }
        out += rest
        return out
    }

    /// `"Ann B" <ann@example.com>, bob@example.com, Carol <carol@x>`.
    static func parseAddresses(_ value: String) -> [Address] {
        var out: [Address] = []
        for piece in splitOutsideQuotes(value, separator: ",") {
            var item = piece.trimmingCharacters(in: .whitespaces)
            // A group: "Team: a@x, b@x;" keeps its members.
            if let colon = item.firstIndex(of: ":"), !item.contains("<") || item.firstIndex(of: "<")! > colon,
               !item[..<colon].contains("@") {
                item = String(item[item.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            }
            item = item.trimmingCharacters(in: CharacterSet(charactersIn: "; "))
            guard !item.isEmpty else { continue }
            if let open = item.lastIndex(of: "<"), let close = item.lastIndex(of: ">"), open < close {
                var name = item[..<open].trimmingCharacters(in: .whitespaces)
                if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") {
                    name = String(name.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
                }
                out.append(Address(name: decodeWords(name), address: String(item[item.index(after: open)..<close])))
            } else if let paren = item.firstIndex(of: "(") {
                // addr (Name)
                let name = item[item.index(after: paren)...].trimmingCharacters(in: CharacterSet(charactersIn: " )"))
                out.append(Address(name: decodeWords(name), address: item[..<paren].trimmingCharacters(in: .whitespaces)))
            } else {
                out.append(Address(name: "", address: item))
            }
        }
        return out
    }

    /// An RFC 5322 date (`Tue, 1 Dec 2026 10:00:00 +0000`), or nil.
    static func parseDate(_ text: String) -> Date? {
        let cleaned = text.replacingOccurrences(of: "\\s*\\([^)]*\\)\\s*$", with: "", options: .regularExpression)
            .trimmingCharacters(in: .whitespaces)
        for format in ["EEE, d MMM yyyy HH:mm:ss Z", "d MMM yyyy HH:mm:ss Z", "EEE, d MMM yyyy HH:mm Z", "d MMM yyyy HH:mm Z",
                       "EEE, d MMM yyyy HH:mm:ss zzz", "d MMM yyyy HH:mm:ss zzz"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = format
            if let date = formatter.date(from: cleaned) { return date }
        }
        return nil
    }
}
