/// "Did you mean" for unknown keys and values.
enum Suggestions {
    /// What people coming from Compose write, and where berth has it.
    static let composeHints: [String: String] = [
        "services": "berth calls them \"containers\" (`berth import compose` converts a Compose file)",
        "environment": "did you mean \"env\"?",
        "env_file": "berth reads no env files: list the variables under \"env\" (`berth import compose` reads them in)",
        "working_dir": "did you mean \"workdir\"?",
        "cap_add": "use \"capabilities: {add: [...]}\"",
        "cap_drop": "use \"capabilities: {drop: [...]}\"",
        "read_only": "did you mean \"readOnlyRootfs\"?",
        "stop_grace_period": "did you mean \"stopTimeout\"?",
        "mem_limit": "use \"resources: {memory: ...}\"",
        "memswap_limit": "use \"resources: {memorySwap: ...}\" (the swap beyond memory, not memory + swap)",
        "memory": "memory belongs under \"resources\"",
        "cpus": "cpus belongs under \"resources\"",
        "cpu_shares": "use \"resources: {cpuWeight: ...}\" (1 to 10000)",
        "cpuset": "cpuset belongs under \"resources\"",
        "pids_limit": "use \"resources: {pids: ...}\"",
        "volumes": "use \"mounts\": {volume: NAME, target: ...} for a named volume, {source, target} for a bind mount",
        "tmpfs": "use \"mounts\": {type: tmpfs, target: ..., size: ...}",
        "deploy": "use \"resources\" and \"restart\"",
        "depends_on": "did you mean \"dependsOn\"?",
        "security_opt": "use \"security: {seccomp: ...}\" and \"noNewPrivileges\"",
        "pull_policy": "did you mean \"pull\"?",
        "network_mode": "use \"namespaces\" (leave out network to share the host's) or \"networks\"",
        "privileged": "berth runs no privileged containers: add \"capabilities\" and \"devices\" instead",
        "expose": "not needed: containers on a network reach each other's ports; \"ports\" publishes on the host",
        "container_name": "the key under \"containers\" is the container's name",
        "ipv4_address": "did you mean \"ip\"?",
        "start_period": "did you mean \"startPeriod\"?",
        "start_interval": "did you mean \"startInterval\"?",
        "max-size": "did you mean \"maxSize\"?",
        "max-file": "did you mean \"maxFiles\"?",
        "net": "did you mean \"network\"?",
        "mnt": "did you mean \"mount\"?",
        "ro": "did you mean \"readOnly\"?",
        "read-only": "did you mean \"readOnly\"?",
    ]

    /// A hint for `word` among `candidates`: a candidate equal up to case, `_` and `-`,
    /// else the nearest by edit distance when it is close, else a Compose hint.
    static func hint(for word: String, among candidates: [String]) -> String? {
        if let match = closest(to: word, among: candidates) { return "did you mean \"\(match)\"?" }
        if let hint = composeHints[word], !hint.contains("did you mean") || candidates.contains(where: { hint.contains("\"\($0)\"") }) {
            return hint
        }
        return nil
    }

    static func closest(to word: String, among candidates: [String]) -> String? {
        // Suggestions are for typos among a handful of keys; a long list would cost more than it helps.
        guard candidates.count <= 256 else { return nil }
        let normal = normalise(word)
        if let exact = candidates.first(where: { normalise($0) == normal }) { return exact }
        let limit = max(1, min(3, word.count / 3))
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(normal, normalise(candidate))
            if d <= limit, d < (best?.1 ?? Int.max) { best = (candidate, d) }
        }
        return best?.0
    }

    private static func normalise(_ s: String) -> [UInt8] {
        Array(s.lowercased().utf8.filter { $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: "-") })
    }

    /// Edit distance counting a swap of two neighbours as one edit (optimal string alignment),
    /// since "fornt" for "front" is the commonest typo of all.
    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        // Keys are short; bail out on long input so that hostile keys cost nothing.
        if a.count > 64 || b.count > 64 { return Int.max / 2 }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], before[j - 2] + 1)
                }
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}
