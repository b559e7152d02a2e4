import Berth
import BerthKernel
import BerthSpec
import Testing

/// The spec (BerthSpec) and the kernel layer (BerthKernel) may not import each other, so a
/// few concepts exist in both: the namespaces and their default list, the lines of an id map
/// and their lookup, the kernel's CPU list format. KernelMapping converts; these tests keep
/// each pair saying the same thing, every value, both ways.
@Suite("Spec and kernel layer agree")
struct KernelMappingAgreementTests {
    @Test func everyNamespaceMapsToTheKernelKindOfItsNameAndBack() {
        for n in Namespace.allCases {
            #expect(KernelMapping.namespace(n).rawValue == n.rawValue, "\(n)")
        }
        for kind in NamespaceKind.allCases {
            let spec = Namespace(rawValue: kind.rawValue)
            #expect(spec.map(KernelMapping.namespace) == kind, "the spec cannot ask for \(kind)")
        }
        #expect(Namespace.allCases.count == NamespaceKind.allCases.count)
        // The same order too (plans and records list them sorted).
        #expect(Namespace.allCases.sorted().map(\.rawValue) == NamespaceKind.allCases.sorted().map(\.rawValue))
    }

    @Test func theDefaultNamespacesAreTheSameList() {
        #expect(Set(Namespace.defaults.map(KernelMapping.namespace)) == ContainerConfig.defaultNamespaces)
        #expect(Namespace.defaults.count == ContainerConfig.defaultNamespaces.count, "no duplicates in the spec's list")
    }

    /// Id maps: random non-overlapping lines; each converted line keeps its three numbers,
    /// each kernel line comes from the spec line of the same numbers, and both lookups give
    /// the same host id for ids inside, at the edges of and outside every line.
    @Test func idMapsConvertWholeAndLookUpAlike() {
        var rng = SplitMix(seed: 17)
        for _ in 0..<300 {
            var lines: [IDMapping] = []
            var container: UInt32 = UInt32(rng.next() % 1000)
            var host: UInt32 = 100_000 + UInt32(rng.next() % 1000)
            for _ in 0..<(1 + rng.next() % 4) {
                let size = 1 + UInt32(rng.next() % 70_000)
                lines.append(IDMapping(container: container, host: host, size: size))
                container += size + UInt32(rng.next() % 3)
                host += size + UInt32(rng.next() % 5000)
            }
            let kernel = KernelMapping.idMap(lines)
            #expect(kernel.count == lines.count)
            for (s, k) in zip(lines, kernel) {
                #expect(k == IDMap(container: s.container, host: s.host, size: s.size))
                #expect(KernelMapping.idMap([IDMapping(container: k.container, host: k.host, size: k.size)]) == [k])
            }
            var ids: [UInt32] = [0, UInt32.max, container, container + 1]
            for l in lines { ids += [l.container, l.container + l.size - 1, l.container + l.size, l.container &- 1] }
            ids += (0..<5).map { _ in UInt32(rng.next() % UInt64(container + 10)) }
            for id in ids {
                #expect(lines.hostID(of: id) == ContainerRuntime.hostID(id, kernel), "\(id) in \(lines)")
            }
        }
    }

    /// CPU lists: every list the spec accepts reads the same to the kernel layer, and both
    /// write a set of CPUs the same way (the kernel's own form), so that plan's comparison of
    /// what the spec asks with what the cgroup reads back never sees a difference of spelling.
    @Test func cpuListsParseAndFormatAlike() {
        let texts = ["", "0", "7", "0-3", "3,1,1", "0-2,5", "1,2,3,7-9", " 4 ", "0-1,0-1", "8191", "0,2,4-6,5",
                     "a", "1-", "-1", "3-1", "1,,2", "1-2-3", ",", "0-8192", "8192"]
        for text in texts {
            guard let spec = CPUSet.parse(text) else { continue }
            #expect(CPUList.parse(text) == spec.cpus, "\(text)")
            #expect(CPUList.canonical(text) == spec.text, "\(text)")
        }
        for bad in ["a", "1-", "-1", "3-1", "1,,2", "1-2-3", ","] {
            #expect(CPUSet.parse(bad) == nil && CPUList.parse(bad) == nil, "\(bad)")
        }
        var rng = SplitMix(seed: 5)
        for _ in 0..<500 {
            let cpus = (0..<(rng.next() % 12)).map { _ in Int(rng.next() % 64) }
            let set = CPUSet(cpus: cpus)
            #expect(set.text == CPUList.format(cpus), "\(cpus)")
            #expect(CPUList.parse(set.text) == set.cpus, "\(set.text)")
            #expect(CPUSet.parse(CPUList.format(cpus)) == set, "\(cpus)")
        }
    }
}

/// A small seeded generator, so that a failure can be replayed.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
