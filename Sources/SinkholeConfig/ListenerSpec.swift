import SinkholePolicy

/// One listener as configured: the address, and the profile written after it
/// (`127.0.0.1:2526,greeting-delay=30s`) or in a `listeners:` entry.
public struct ListenerSpec: Sendable {
    public var address: ListenAddress
    /// nil for a plain listener.
    public var profile: ListenerProfile?
    /// The rules its profile names (`rules=FILE`, or a `rules:` list in its entry).
    public var rules: [Rule] = []

    public init(address: ListenAddress, profile: ListenerProfile? = nil, rules: [Rule] = []) {
        self.address = address
        self.profile = profile
        self.rules = rules
    }

    /// `HOST:PORT[,option[=value]...]`.
    public init(parsing text: String, origin: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let addressText = String(parts[0]).trimmingCharacters(in: .whitespaces)
        guard let address = ListenAddress(parsing: addressText) else {
            throw SettingsError(description: "invalid \(origin) \"\(text)\": expected HOST:PORT, such as 127.0.0.1:2525 or [::1]:2525, then any listener options after commas")
        }
        self.address = address
        guard parts.count > 1 else { return }
        do {
            let profile = try ListenerProfile.parse(options: Array(parts.dropFirst()), name: address.description)
            self.profile = profile
            if let path = profile.rulesPath {
                rules = try Self.loadRules(path, origin: "rules of listener \(profile.name)")
            }
        } catch let error as ProfileError {
            throw SettingsError(description: "invalid \(origin) \"\(text)\": \(error.reason)")
        }
    }

    static func loadRules(_ path: String, origin: String) throws -> [Rule] {
        let document = try ConfigFile.load(path, what: "rules file")
        do {
            return try RuleDecoder.decode(document, origin: path)
        } catch {
            throw SettingsError(description: "\(origin) (\(path)): \(error)")
        }
    }

    private static let entryKeys = ["listen", "greeting-delay", "drop-after", "drop-at-connect", "command-delay", "mode", "rules", "name",
                                            "personality", "tls", "starttls", "no-starttls", "tls-profile", "proxy-protocol", "lmtp"]

    /// The config file's `listeners:` section: a list of mappings with `listen:` and profile keys.
    static func parse(section: ConfigValue, origin: String) throws -> [ListenerSpec] {
        guard case .list(let entries) = section else {
            throw SettingsError(description: "\(origin): expected a list of listeners, each with listen: HOST:PORT")
        }
        var specs: [ListenerSpec] = []
        for (index, entry) in entries.enumerated() {
            let place = "\(origin)[\(index)]"
            guard case .map(let fields) = entry else {
                throw SettingsError(description: "\(place): expected a mapping with listen: HOST:PORT")
            }
            var address: ListenAddress?
            var options: [Substring] = []
            var inlineRules: ConfigValue?
            for (rawKey, value) in fields {
                let key = rawKey.replacingOccurrences(of: "_", with: "-").lowercased()
                guard entryKeys.contains(key) else {
                    throw SettingsError(description: "\(place): unknown key \"\(rawKey)\" (expected \(entryKeys.joined(separator: ", ")))")
                }
                if key == "listen" {
                    guard let text = value.scalarText, let parsed = ListenAddress(parsing: text) else {
                        throw SettingsError(description: "\(place): listen: expected HOST:PORT, such as 127.0.0.1:2526")
                    }
                    address = parsed
                } else if key == "rules", case .list = value {
                    inlineRules = value
                } else if ["drop-at-connect", "tls", "starttls", "no-starttls", "proxy-protocol", "lmtp"].contains(key) {
                    guard case .bool(let on) = value else { throw SettingsError(description: "\(place): \(key): expected true or false") }
                    if on { options.append(Substring(key)) }
                } else {
                    guard let text = value.scalarText else {
                        throw SettingsError(description: "\(place): \(rawKey): expected a value, not \(value.typeName)")
                    }
                    options.append(Substring("\(key)=\(text)"))
                }
            }
            guard let address else { throw SettingsError(description: "\(place): listen: HOST:PORT is required") }
            var spec = ListenerSpec(address: address)
            do {
                let profile = try ListenerProfile.parse(options: options, name: address.description)
                spec.profile = profile
                if let path = profile.rulesPath {
                    spec.rules = try loadRules(path, origin: "rules of listener \(profile.name)")
                }
            } catch let error as ProfileError {
                throw SettingsError(description: "\(place): \(error.reason)")
            }
            if let inlineRules {
                do {
                    spec.rules = try RuleDecoder.decode(inlineRules, origin: "listener \(spec.profile?.name ?? address.description)")
                } catch {
                    throw SettingsError(description: "\(place): \(error)")
                }
                if spec.profile == nil { spec.profile = ListenerProfile(name: address.description) }
            }
            specs.append(spec)
        }
        return specs
    }
}

extension Settings {
    /// In `SINKHOLE_LISTEN` the list is comma-separated, and so are a
    /// listener's options: a piece without a `:` belongs to the address before it.
    static func joinListenOptions(_ values: [String], fromEnvironment: Bool) -> [String] {
        guard fromEnvironment else { return values }
        var out: [String] = []
        for value in values {
            if !value.contains(":"), !out.isEmpty {
                out[out.count - 1] += "," + value
            } else {
                out.append(value)
            }
        }
        return out
    }
}
