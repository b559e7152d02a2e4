/// The rules for names that become cgroup paths, state file names and interface names.
public enum Names {
    public static let projectMaxLength = 32
    public static let containerMaxLength = 63
    public static let networkMaxLength = 63
    public static let volumeMaxLength = 63
    /// IFNAMSIZ - 1.
    public static let interfaceMaxLength = 15

    /// Why `name` is not a valid project, container or network name (`[a-z0-9][a-z0-9-]*`,
    /// at most `maxLength` characters); nil when it is valid.
    public static func problem(with name: String, maxLength: Int) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maxLength { return "is longer than \(maxLength) characters" }
        let bytes = Array(name.utf8)
        guard isLowerAlnum(bytes[0]) else { return "must start with a lowercase letter or a digit" }
        guard bytes.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: "-") }) else {
            return "may only contain lowercase letters, digits and '-'"
        }
        return nil
    }

    /// Directories of berth's own beside the projects' under the state directory: the image
    /// store and the registry's staging area. No project may take their names.
    public static let reservedProjects: Set<String> = ["images", "registry"]

    /// Why `name` is not a valid project name; nil when it is.
    public static func projectProblem(with name: String) -> String? {
        if let problem = problem(with: name, maxLength: projectMaxLength) { return problem }
        if reservedProjects.contains(name) { return "is reserved for berth's own records (the image store and registry pulls)" }
        return nil
    }

    public static func isValid(_ name: String, maxLength: Int) -> Bool {
        problem(with: name, maxLength: maxLength) == nil
    }

    /// Why `name` cannot be a Linux interface name; nil when it can. Stricter than the
    /// kernel (which takes almost any byte): letters, digits, `_`, `.` and `-`, starting
    /// with a letter or digit, at most 15 characters.
    public static func interfaceNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > interfaceMaxLength { return "is longer than \(interfaceMaxLength) characters (the kernel's limit for interface names)" }
        let bytes = Array(name.utf8)
        guard isAlnum(bytes[0]) else { return "must start with a letter or a digit" }
        guard bytes.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) else {
            return "may only contain letters, digits, '-', '_' and '.'"
        }
        return nil
    }

    /// Why `name` is not a valid host name (RFC 1123 labels of at most 63 characters,
    /// separated by dots, at most 64 characters in all as `sethostname` allows); nil when valid.
    public static func hostnameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > 64 { return "is longer than 64 characters (the kernel's limit)" }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            if bytes.isEmpty { return "has an empty label (two dots, or a dot at an end)" }
            if bytes.count > 63 { return "has a label longer than 63 characters" }
            guard bytes.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") }) else {
                return "may only contain letters, digits, '-' and '.'"
            }
            if bytes.first == UInt8(ascii: "-") || bytes.last == UInt8(ascii: "-") {
                return "has a label that starts or ends with '-'"
            }
        }
        return nil
    }

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        isLowerAlnum(c) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
    }
}

extension Network {
    /// The bridge name berth gives a network that does not name one: `br-` and 12 hex
    /// digits of a hash of `project/network`, so 15 characters, stable across runs and
    /// machines, and distinct for every project and network name (up to a 48-bit hash
    /// collision, which validation would report as a duplicate bridge within a file).
    /// The networking code derives names only through this function.
    public static func defaultBridgeName(project: String, network: String) -> String {
        "br-" + StableHash.hex(of: "\(project)/\(network)", digits: 12)
    }
}

/// The hash berth derives kernel object names from: stable across runs, machines
/// and versions (names found again by deriving them again depend on it).
public enum StableHash {
    /// FNV-1a 64, then a splitmix64 finaliser so that the low bits are well mixed.
    public static func of(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        h ^= h >> 30
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 27
        h = h &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return h
    }

    /// The low `digits` hex digits of the hash, zero-padded.
    public static func hex(of text: String, digits: Int) -> String {
        let hex = String(of(text) & (UInt64.max >> UInt64(64 - 4 * digits)), radix: 16)
        return String(repeating: "0", count: digits - hex.count) + hex
    }
}
