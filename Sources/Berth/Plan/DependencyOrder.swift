import BerthSpec

/// The order `dependsOn` gives: dependencies before their dependents (file order
/// among containers with no order between them), and the reverse for removal.
enum DependencyOrder {
    /// `containers` with each one after everything it depends on; stable in file order.
    /// Validation refuses cycles; should one get here, the rest keep file order.
    static func startOrder(_ containers: [Container]) -> [Container] {
        let names = Set(containers.map(\.name))
        var placed: Set<String> = []
        // By index, never removing from the middle of an array: a pass of the reconciler
        // over 1,000 containers orders them every second.
        var done = [Bool](repeating: false, count: containers.count)
        var out: [Container] = []
        out.reserveCapacity(containers.count)
        var first = 0  // every container before it is placed
        while out.count < containers.count {
            while done[first] { first += 1 }
            guard let next = (first..<containers.count).first(where: { i in
                !done[i] && containers[i].dependsOn.allSatisfy { placed.contains($0.name) || !names.contains($0.name) }
            }) else {
                out += (first..<containers.count).filter { !done[$0] }.map { containers[$0] }
                break
            }
            done[next] = true
            placed.insert(containers[next].name)
            out.append(containers[next])
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
