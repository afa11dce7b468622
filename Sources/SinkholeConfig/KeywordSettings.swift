/// The EHLO keywords that can be withheld: `--no-pipelining`, `--no-8bitmime`,
/// `--no-smtputf8`, `--no-enhancedstatuscodes`, and `--no-esmtp` for HELO only
/// (smtp-sink's `-p`, `-8`, `-E`, `-e`; its `-a` is `--no-auth`).
public struct KeywordSettings: Sendable {
    public var pipelining = true
    public var eightBitMIME = true
    public var smtpUTF8 = true
    public var enhancedStatusCodes = true
    public var esmtp = true

    public init() {}
}

extension Settings {
    mutating func resolveKeywords(_ layers: SettingLayers) throws {
        func withheld(_ key: String) throws -> Bool {
            try layers.value(key, default: false, Parse.bool, expected: "true or false")
        }
        var keywords = KeywordSettings()
        keywords.pipelining = try !withheld("no-pipelining")
        keywords.eightBitMIME = try !withheld("no-8bitmime")
        keywords.smtpUTF8 = try !withheld("no-smtputf8")
        keywords.enhancedStatusCodes = try !withheld("no-enhancedstatuscodes")
        keywords.esmtp = try !withheld("no-esmtp")
        self.keywords = keywords
    }
}
