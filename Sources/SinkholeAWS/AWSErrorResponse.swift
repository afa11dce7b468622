import Foundation

/// An error answer from an AWS service: its code (`ParameterNotFound`,
/// `AccessDeniedException`, `SignatureDoesNotMatch`...) and message.
///
/// SSM answers errors in JSON (`{"__type": "...#ParameterNotFound", "message": "..."}`,
/// HTTP 400); some proxies and emulators (moto among them) answer
/// authentication failures in the XML of the query protocol
/// (`<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>...`, HTTP 403).
public struct AWSErrorResponse: Sendable, Equatable {
    public var code: String?
    public var message: String?
    public var status: Int

    public init(code: String?, message: String?, status: Int) {
        self.code = code
        self.message = message
        self.status = status
    }

    /// Codes after which the caller should wait longer before asking again.
    public var isThrottling: Bool {
        guard let code else { return status == 429 }
        return ["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
                "ThrottledException", "SlowDown"].contains(code)
    }

    public static func parse(status: Int, body: [UInt8]) -> AWSErrorResponse {
        if let json = parseJSON(body) { return AWSErrorResponse(code: json.code, message: json.message, status: status) }
        if let xml = parseXML(body) { return AWSErrorResponse(code: xml.code, message: xml.message, status: status) }
        return AWSErrorResponse(code: nil, message: nil, status: status)
    }

    static func parseJSON(_ body: [UInt8]) -> (code: String?, message: String?)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        let rawCode = (object["__type"] ?? object["code"] ?? object["Code"]) as? String
        let message = (object["message"] ?? object["Message"] ?? object["errorMessage"]) as? String
        guard rawCode != nil || message != nil else { return nil }
        return (rawCode.map(shortCode), message)
    }

    /// `com.amazonaws.ssm#ParameterNotFound` and `ParameterNotFound:http://...` are both `ParameterNotFound`.
    static func shortCode(_ raw: String) -> String {
        var code = Substring(raw)
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        return code.trimmingCharacters(in: .whitespaces)
    }

    /// The first `<Code>` and `<Message>` elements. Two tags do not justify an
    /// XML parser (and FoundationXML's libxml2 in the runtime image).
    static func parseXML(_ body: [UInt8]) -> (code: String?, message: String?)? {
        let text = String(decoding: body, as: UTF8.self)
        guard text.contains("<") else { return nil }
        let code = element("Code", in: text)
        let message = element("Message", in: text)
        guard code != nil || message != nil else { return nil }
        return (code.map(shortCode), message)
    }

    private static func element(_ name: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(name)>"),
              let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex) else { return nil }
        let raw = text[open.upperBound..<close.lowerBound]
        return raw.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
