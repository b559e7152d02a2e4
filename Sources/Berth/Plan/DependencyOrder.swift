import BerthSpec

/// The order `dependsOn` gives: dependencies before their dependents (file order
/// among containers with no order between them), and the reverse for removal.
enum DependencyOrder {
    /// `containers` with each one after everything it depends on; stable in file order.
    /// Validation refuses cycles; should one get here, the rest keep file order.
    static func startOrder(_ containers: [Container]) -> [Container] {
        let names = Set(containers.map(\.name))
        var placed: Set<String> = []
        var out: [Container] = []
        var left = containers
        while !left.isEmpty {
            guard let next = left.firstIndex(where: { c in
                c.dependsOn.allSatisfy { placed.contains($0.name) || !names.contains($0.name) }
            }) else {
                out += left
                break
            }
            placed.insert(left[next].name)
            out.append(left.remove(at: next))
        }
        return out
    }

    /// Names of containers to remove, dependents first (by what was applied for them).
    static func removalOrder(_ names: [String], specs: [String: Container]) -> [String] {
        let known = names.compactMap { specs[$0] }
        let started = startOrder(known.sorted { $0.name < $1.name }).map(\.name)
        let unknown = names.filter { specs[$0] == nil }.sorted()
        return unknown + started.reversed()
    }
}
