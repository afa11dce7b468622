import Foundation

/// Who may use the HTTP control API, and what capture keeps.
public struct APISettings: Sendable {
    /// `--capture memory`: accepted messages are kept for the API.
    public var capture = false
    public var captureMaxMessages = 1000
    public var captureMaxBytes = 32 << 20
    /// A second HTTP listener with James's routes only (`--james-listen`).
    public var jamesListen: ListenAddress?
    /// The bearer token every control route needs; nil: none needed.
    public var token: String?
    /// Read-only routes need no token.
    public var readOpen = false
    /// Serve the API on a non-loopback address without a token.
    public var insecure = false
    /// Finished sessions the journal keeps; 0: none.
    public var journalMaxSessions = 1000
    /// Transcript lines kept of each session.
    public var journalMaxLines = 200
    /// `POST /api/v1/clock` may move the policy's time forward.
    public var testClock = false

    public init() {}
}

extension ListenAddress {
    /// 127.0.0.0/8, ::1 or `localhost`: only this machine can connect.
    public var isLoopback: Bool {
        if unixPath != nil { return true }  // reachable from this host only
        let host = host.lowercased()
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

extension Settings {
    mutating func resolveAPI(_ layers: SettingLayers) throws {
        var api = APISettings()
        api.capture = try layers.value("capture", default: false, { text -> Bool? in
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "memory": true
            case "off", "none": false
            default: nil
            }
        }, expected: "memory or off")
        api.captureMaxMessages = try layers.value("capture-max-messages", default: 1000, Parse.positive,
                                                  expected: "a whole number above 0")
        api.captureMaxBytes = try layers.value("capture-max-bytes", default: 32 << 20, Parse.size,
                                               expected: "a size such as 32M")
        guard api.captureMaxBytes >= 1024 else {
            throw SettingsError(description: "invalid capture-max-bytes \(api.captureMaxBytes): at least 1K")
        }
        api.jamesListen = try layers.value("james-listen", default: nil, { text -> ListenAddress?? in
            if text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return .some(nil) }
            guard let address = ListenAddress(parsing: text), address.unixPath == nil else { return nil }
            return .some(address)
        }, expected: "HOST:PORT, such as 127.0.0.1:8000, or none")
        api.journalMaxSessions = try layers.value("journal-max-sessions", default: 1000, { Int($0).flatMap { $0 >= 0 ? $0 : nil } },
                                                  expected: "a whole number, 0 (no journal) or more")
        api.journalMaxLines = try layers.value("journal-max-lines", default: 200, Parse.positive,
                                               expected: "a whole number above 0")
        api.testClock = try layers.value("test-clock", default: false, Parse.bool, expected: "true or false")
        api.readOpen = try layers.value("api-read-open", default: false, Parse.bool, expected: "true or false")
        api.insecure = try layers.value("api-insecure", default: false, Parse.bool, expected: "true or false")

        if let token = layers.string("api-token") {
            api.token = try Self.checkToken(token.value, origin: token.origin)
        }
        if let file = layers.string("api-token-file") {
            guard api.token == nil else {
                throw SettingsError(description: "give api-token or api-token-file, not both")
            }
            guard let data = FileManager.default.contents(atPath: file.value),
                  let text = String(data: data, encoding: .utf8) else {
                throw SettingsError(description: "cannot read api-token-file \(file.value)")
            }
            api.token = try Self.checkToken(text.trimmingCharacters(in: .whitespacesAndNewlines), origin: "api-token-file \(file.value)")
        }
        if api.token == nil && !api.insecure {
            for (flag, address) in [("http-listen", httpListen), ("james-listen", api.jamesListen)] {
                guard let address, !address.isLoopback else { continue }
                throw SettingsError(description: "the control API would listen on \(address) (\(flag)) without a token: "
                    + "set --api-token (or SINKHOLE_API_TOKEN, or --api-token-file), or --api-insecure to allow it")
            }
        }
        self.api = api
    }

    /// The token's text is never put in an error: only where it came from.
    private static func checkToken(_ token: String, origin: String) throws -> String {
        guard token.utf8.count >= 8, token.utf8.count <= 512,
              token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw SettingsError(description: "invalid \(origin): a token is 8 to 512 visible ASCII characters")
        }
        return token
    }
}
