import Synchronization

/// Queue ids for `250 2.0.0 OK queued as <id>`: unique within the process and,
/// with a random prefix, across restarts. Upper-case hex, as Postfix's are:
/// 8 digits of the prefix, then the counter in at least 8.
enum QueueID {
    private static let prefix = UInt32.random(in: 0...UInt32.max)
    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        format(prefix: prefix, number: counter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// Written digit by digit into the string's own storage (this runs for every message).
    static func format(prefix: UInt32, number: UInt64) -> String {
        let numberDigits = max(8, (64 - number.leadingZeroBitCount + 3) / 4)
        return String(unsafeUninitializedCapacity: 8 + numberDigits) { out in
            let hex: StaticString = "0123456789ABCDEF"
            hex.withUTF8Buffer { hex in
                for index in 0..<8 { out[index] = hex[Int(prefix >> (28 - 4 * index) & 0xF)] }
                for index in 0..<numberDigits {
                    out[8 + index] = hex[Int(number >> (4 * (numberDigits - 1 - index)) & 0xF)]
                }
            }
            return 8 + numberDigits
        }
    }
}
