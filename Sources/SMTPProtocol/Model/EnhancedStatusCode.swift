/// An enhanced status code, `class.subject.detail`, such as `5.1.1`.
///
/// sinkhole advertises `ENHANCEDSTATUSCODES` and puts one in every reply but
/// the greeting and the EHLO/HELO answer.
///
/// - SeeAlso: [RFC 3463](https://www.rfc-editor.org/rfc/rfc3463),
///   [RFC 2034](https://www.rfc-editor.org/rfc/rfc2034)
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    public let statusClass: Int
    public let subject: Int
    public let detail: Int

    /// `class` is 2, 4 or 5; subject and detail have at most three digits.
    public init?(_ statusClass: Int, _ subject: Int, _ detail: Int) {
        guard [2, 4, 5].contains(statusClass), (0...999).contains(subject), (0...999).contains(detail) else {
            return nil
        }
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Parses `"4.7.1"`.
    public init?(_ text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCIIDigit) }),
              let c = Int(parts[0]), let s = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        self.init(c, s, d)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}

extension Character {
    @inlinable var isASCIIDigit: Bool { isASCII && isNumber }
}
