import Synchronization

/// Queue ids for `250 2.0.0 OK queued as <id>`: unique within the process and,
/// with a random prefix, across restarts. Upper-case hex, as Postfix's are.
enum QueueID {
    private static let prefix: String = {
        let random = UInt32.random(in: 0...UInt32.max)
        let text = String(random, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - text.count) + text
    }()
    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let text = String(number, radix: 16, uppercase: true)
        return prefix + String(repeating: "0", count: max(0, 8 - text.count)) + text
    }
}
