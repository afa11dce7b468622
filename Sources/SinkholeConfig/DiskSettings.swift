/// Capture to disk: `--maildir DIR`, and smtp-sink's dump files
/// (`--dump-each TEMPLATE` is its `-d`, `--dump-append TEMPLATE` its `-D`,
/// `--dump-prefix STRING` its `-S`).
public struct DiskSettings: Sendable {
    public var maildir: String?
    /// strftime(3) templates; `--dump-each` gets a random hexadecimal suffix per message.
    public var dumpEach: String?
    public var dumpAppend: String?
    /// As given, C escapes unresolved (`\n`, `\t`, `\ddd`).
    public var dumpPrefix: String?

    public init() {}

    public var isEnabled: Bool { maildir != nil || dumpEach != nil || dumpAppend != nil }
}

extension Settings {
    mutating func resolveDisk(_ layers: SettingLayers) throws {
        var disk = DiskSettings()
        func path(_ key: String) throws -> String? {
            guard let text = layers.string(key) else { return nil }
            guard !text.value.isEmpty, !text.value.utf8.contains(0) else {
                throw SettingsError(description: "invalid \(text.origin) \"\(text.value)\": expected a path")
            }
            return text.value
        }
        disk.maildir = try path("maildir")
        disk.dumpEach = try path("dump-each")
        disk.dumpAppend = try path("dump-append")
        disk.dumpPrefix = layers.string("dump-prefix")?.value
        if disk.dumpPrefix != nil && disk.dumpEach == nil && disk.dumpAppend == nil {
            throw SettingsError(description: "dump-prefix needs dump-each or dump-append: it is written before each dumped message")
        }
        self.disk = disk
    }
}
