/// What the first TLS records of a handshake say in the clear: the name the
/// client asked for (SNI, in its ClientHello) and the cipher suite the server
/// chose (in its ServerHello). Read off the wire, since swift-nio-ssl does
/// not report them. Pure: bytes in, values out; nil for anything else.
public enum TLSHello {
    /// The `server_name` (RFC 6066 §3) of a ClientHello that starts `record`;
    /// nil when the bytes are no ClientHello (yet) or it names none.
    public static func serverName(clientHello record: some Collection<UInt8>) -> String? {
        var reader = Reader(Array(record.prefix(16_389)))
        guard reader.byte() == 0x16, reader.skip(2), let recordLength = reader.uint16(),
              reader.remaining >= Int(recordLength), reader.byte() == 0x01,  // handshake record, ClientHello
              reader.skip(3), reader.skip(2), reader.skip(32),                // length, legacy version, random
              let session = reader.byte(), reader.skip(Int(session)),
              let ciphers = reader.uint16(), reader.skip(Int(ciphers)),
              let compression = reader.byte(), reader.skip(Int(compression)),
              let extensionsLength = reader.uint16() else { return nil }
        var extensions = Reader(reader.take(Int(extensionsLength)) ?? [])
        while let type = extensions.uint16(), let length = extensions.uint16(), let body = extensions.take(Int(length)) {
            guard type == 0 else { continue }
            var names = Reader(body)
            guard names.skip(2), names.byte() == 0, let nameLength = names.uint16(),
                  let name = names.take(Int(nameLength)) else { return nil }
            let text = String(decoding: name, as: UTF8.self)
            // A host name: visible ASCII only, so it is safe in a log line.
            return text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) ? text : nil
        }
        return nil
    }

    /// The cipher suite of a ServerHello that starts `record`; nil for anything else.
    public static func cipherSuite(serverHello record: some Collection<UInt8>) -> UInt16? {
        var reader = Reader(Array(record.prefix(512)))
        guard reader.byte() == 0x16, reader.skip(4), reader.byte() == 0x02,   // handshake record, ServerHello
              reader.skip(3), reader.skip(2), reader.skip(32),
              let session = reader.byte(), reader.skip(Int(session)) else { return nil }
        return reader.uint16()
    }

    /// IANA's name of a suite BoringSSL may choose as a server; `0xC0FF` for another.
    public static func name(ofCipherSuite suite: UInt16) -> String {
        switch suite {
        case 0x1301: "TLS_AES_128_GCM_SHA256"
        case 0x1302: "TLS_AES_256_GCM_SHA384"
        case 0x1303: "TLS_CHACHA20_POLY1305_SHA256"
        case 0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        case 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        case 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        case 0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        case 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        case 0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        case 0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        case 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        case 0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        case 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        case 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256"
        case 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384"
        case 0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA"
        case 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA"
        default: "0x" + String(suite, radix: 16, uppercase: true)
        }
    }

    private struct Reader {
        private let bytes: [UInt8]
        private var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var remaining: Int { bytes.count - offset }
        mutating func byte() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }
        mutating func uint16() -> UInt16? {
            guard remaining >= 2 else { return nil }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }
        mutating func skip(_ count: Int) -> Bool {
            guard remaining >= count else { return false }
            offset += count
            return true
        }
        mutating func take(_ count: Int) -> [UInt8]? {
            guard remaining >= count else { return nil }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }
    }
}
