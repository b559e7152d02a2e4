/// The JSON of libnftables (its `libnftables-json(5)` schema), as a value berth
/// builds rules from and reads listings into. The tree and the parser are berth
/// init's (``InitJSON``): one JSON reader in the kernel layer.
typealias NftJSON = InitJSON.Value


extension InitJSON.Value {
    static func int(_ n: Int) -> Self { .number(Substring(String(n))) }

    /// `{key: value}`, the shape of almost every nftables JSON node.
    static func node(_ key: String, _ value: Self) -> Self { .object([(key, value)]) }

    /// Equality with the members of objects in any order: nftables lists a rule's
    /// fields in its own order, which need not be the order berth wrote them in.
    func sameAs(_ other: Self) -> Bool {
        switch (self, other) {
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            return a.allSatisfy { key, value in b.first { $0.0 == key }.map { value.sameAs($0.1) } ?? false }
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.sameAs($1) }
        default:
            return self == other
        }
    }
}
