/// A fixed-capacity map that forgets its least recently used entry when full.
/// Every operation is O(1); storage is allocated once up to the capacity.
struct LRUTable<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Node: Sendable {
        var key: Key
        var value: Value
        var newer: Int?
        var older: Int?
    }

    let capacity: Int
    private var index: [Key: Int] = [:]
    private var nodes: [Node] = []
    private var newest: Int?
    private var oldest: Int?

    init(capacity: Int) {
        precondition(capacity > 0, "an LRU table holds at least one entry")
        self.capacity = capacity
    }

    var count: Int { index.count }

    /// Up to `limit` entries, most recently used first.
    func newestFirst(limit: Int = .max) -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        var slot = newest
        while let current = slot, out.count < limit {
            out.append((nodes[current].key, nodes[current].value))
            slot = nodes[current].older
        }
        return out
    }

    /// The value for `key`, which becomes the most recently used.
    mutating func value(for key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        touch(slot)
        return nodes[slot].value
    }

    /// The value for `key`, leaving the order as it is.
    func peek(_ key: Key) -> Value? {
        index[key].map { nodes[$0].value }
    }

    /// Sets `key` to `value` as the most recently used; returns the key
    /// evicted to make room, if any.
    @discardableResult
    mutating func set(_ value: Value, for key: Key) -> Key? {
        if let slot = index[key] {
            nodes[slot].value = value
            touch(slot)
            return nil
        }
        if nodes.count < capacity {
            nodes.append(Node(key: key, value: value, newer: nil, older: nil))
            let slot = nodes.count - 1
            index[key] = slot
            link(slot)
            return nil
        }
        // Full: reuse the oldest node's slot for the new key.
        guard let slot = oldest else { return nil }
        let evicted = nodes[slot].key
        unlink(slot)
        index[evicted] = nil
        nodes[slot] = Node(key: key, value: value, newer: nil, older: nil)
        index[key] = slot
        link(slot)
        return evicted
    }

    private mutating func touch(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        link(slot)
    }

    /// Puts `slot` at the newest end.
    private mutating func link(_ slot: Int) {
        nodes[slot].older = newest
        nodes[slot].newer = nil
        if let newest { nodes[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let newer = nodes[slot].newer
        let older = nodes[slot].older
        if let newer { nodes[newer].older = older } else { newest = older }
        if let older { nodes[older].newer = newer } else { oldest = newer }
        nodes[slot].newer = nil
        nodes[slot].older = nil
    }
}
