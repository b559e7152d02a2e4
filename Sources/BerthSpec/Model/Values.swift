/// A number of bytes, remembering how the user wrote it (`128Mi`) so that a plan
/// can show it back the same way. Two sizes are equal when their bytes are.
public struct ByteSize: Sendable, Hashable, Codable, CustomStringConvertible {
    public var bytes: UInt64
    /// The text as written in the spec, or a canonical rendering for values read from the kernel.
    public var text: String

    public init(bytes: UInt64, text: String? = nil) {
        self.bytes = bytes
        self.text = text ?? ByteSize.format(bytes)
    }

    public static func == (a: ByteSize, b: ByteSize) -> Bool { a.bytes == b.bytes }
    public func hash(into h: inout Hasher) { h.combine(bytes) }
    public var description: String { text }

    /// The largest binary unit that divides `bytes` exactly: 67108864 -> "64Mi", 1000 -> "1000".
    public static func format(_ bytes: UInt64) -> String {
        let units = ["Ti", "Gi", "Mi", "Ki"]
        for (i, unit) in units.enumerated() {
            let factor = UInt64(1) << UInt64(10 * (4 - i))
            if bytes >= factor, bytes % factor == 0 { return "\(bytes / factor)\(unit)" }
        }
        return "\(bytes)"
    }
}

/// An amount of CPU in millicores (`0.5` and `"500m"` are both 500).
public struct CPUAmount: Sendable, Hashable, Codable, CustomStringConvertible {
    public var millicores: Int
    public var text: String

    public init(millicores: Int, text: String? = nil) {
        self.millicores = millicores
        self.text = text ?? CPUAmount.format(millicores)
    }

    public static func == (a: CPUAmount, b: CPUAmount) -> Bool { a.millicores == b.millicores }
    public func hash(into h: inout Hasher) { h.combine(millicores) }
    public var description: String { text }

    /// 500 -> "0.5", 2000 -> "2", 1234 -> "1234m".
    public static func format(_ millicores: Int) -> String {
        if millicores % 1000 == 0 { return "\(millicores / 1000)" }
        if millicores % 100 == 0 { return "\(millicores / 1000).\(millicores % 1000 / 100)" }
        return "\(millicores)m"
    }
}

/// A span of time in milliseconds (`500ms`, `10s`, `1m30s`).
public struct TimeSpan: Sendable, Hashable, Codable, CustomStringConvertible {
    public var milliseconds: Int
    public var text: String

    public init(milliseconds: Int, text: String? = nil) {
        self.milliseconds = milliseconds
        self.text = text ?? TimeSpan.format(milliseconds)
    }

    public static func == (a: TimeSpan, b: TimeSpan) -> Bool { a.milliseconds == b.milliseconds }
    public func hash(into h: inout Hasher) { h.combine(milliseconds) }
    public var description: String { text }

    public static func format(_ ms: Int) -> String {
        if ms == 0 { return "0s" }
        var out = ""
        var rest = ms
        let h = rest / 3_600_000; rest %= 3_600_000
        let m = rest / 60_000; rest %= 60_000
        let s = rest / 1000; rest %= 1000
        if h > 0 { out += "\(h)h" }
        if m > 0 { out += "\(m)m" }
        if s > 0 { out += "\(s)s" }
        if rest > 0 { out += "\(rest)ms" }
        return out
    }
}

/// A set of CPUs, as in `cpuset.cpus` (`"0-1,3"`). `text` is the canonical form.
public struct CPUSet: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Sorted, unique CPU numbers.
    public var cpus: [Int]

    public init(cpus: [Int]) { self.cpus = Array(Set(cpus)).sorted() }

    /// Canonical kernel form: ranges joined by commas, e.g. "0-2,5".
    public var text: String {
        var parts: [String] = []
        var i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count, cpus[j + 1] == cpus[j] + 1 { j += 1 }
            parts.append(i == j ? "\(cpus[i])" : "\(cpus[i])-\(cpus[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
    public var description: String { text }

    /// Parses the kernel list format ("0-1,3"); nil when malformed.
    public static func parse(_ s: String) -> CPUSet? {
        let trimmed = s.trimmingWhitespace()
        if trimmed.isEmpty { return CPUSet(cpus: []) }
        var cpus: [Int] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                  let lo = Int(bounds[0]), lo >= 0, lo < 8192 else { return nil }
            let hi = bounds.count == 2 ? Int(bounds[1]) : lo
            guard let hi, hi >= lo, hi < 8192 else { return nil }
            cpus.append(contentsOf: lo...hi)
        }
        return CPUSet(cpus: cpus)
    }
}

/// A signal, by canonical name (`SIGTERM`) and number.
public struct Signal: Sendable, Hashable, Codable, CustomStringConvertible {
    public var name: String
    public var number: Int32

    /// Linux x86_64/arm64 signal numbers of the standard signals.
    public static let table: [(String, Int32)] = [
        ("SIGHUP", 1), ("SIGINT", 2), ("SIGQUIT", 3), ("SIGILL", 4), ("SIGTRAP", 5), ("SIGABRT", 6),
        ("SIGBUS", 7), ("SIGFPE", 8), ("SIGKILL", 9), ("SIGUSR1", 10), ("SIGSEGV", 11), ("SIGUSR2", 12),
        ("SIGPIPE", 13), ("SIGALRM", 14), ("SIGTERM", 15), ("SIGSTKFLT", 16), ("SIGCHLD", 17),
        ("SIGCONT", 18), ("SIGSTOP", 19), ("SIGTSTP", 20), ("SIGTTIN", 21), ("SIGTTOU", 22),
        ("SIGURG", 23), ("SIGXCPU", 24), ("SIGXFSZ", 25), ("SIGVTALRM", 26), ("SIGPROF", 27),
        ("SIGWINCH", 28), ("SIGIO", 29), ("SIGPWR", 30), ("SIGSYS", 31),
    ]

    public init(name: String, number: Int32) {
        self.name = name
        self.number = number
    }

    /// Accepts `SIGTERM`, `TERM`, `sigterm`, or a number; nil when unknown.
    public static func named(_ s: String) -> Signal? {
        let upper = s.uppercased()
        if let n = Int32(upper) {
            return table.first { $0.1 == n }.map { Signal(name: $0.0, number: $0.1) }
        }
        let name = upper.hasPrefix("SIG") ? upper : "SIG" + upper
        return table.first { $0.0 == name }.map { Signal(name: $0.0, number: $0.1) }
    }

    public var description: String { name }
}

/// An IPv4 address.
public struct IPv4Address: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Parses dotted-quad notation strictly (four decimal octets, no leading zeros).
    public init?(_ s: String) {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let o = UInt32(p), o <= 255 else { return nil }
            v = v << 8 | o
        }
        value = v
    }

    public var octets: [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
    public var description: String { octets.map(String.init).joined(separator: ".") }
    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let a = IPv4Address(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv4 address: \(s)")
        }
        self = a
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv4 network in CIDR notation. `address` is the network address (host bits zero).
public struct IPv4CIDR: Sendable, Hashable, Codable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefix: Int

    public init(address: IPv4Address, prefix: Int) {
        self.address = address
        self.prefix = prefix
    }

    /// Parses `a.b.c.d/n`. Host bits must be zero (strict); nil otherwise.
    public init?(_ s: String) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(String(parts[0])),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]), (0...32).contains(n) else { return nil }
        let cidr = IPv4CIDR(address: a, prefix: n)
        guard cidr.network == a else { return nil }
        self = cidr
    }

    public var mask: UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }
    public var network: IPv4Address { IPv4Address(address.value & mask) }
    public var broadcast: IPv4Address { IPv4Address(address.value | ~mask) }
    /// First usable host address (network + 1).
    public var firstHost: IPv4Address { IPv4Address(network.value &+ 1) }
    /// Last usable host address (broadcast - 1).
    public var lastHost: IPv4Address { IPv4Address(broadcast.value &- 1) }

    public func contains(_ a: IPv4Address) -> Bool { a.value & mask == network.value }
    public func overlaps(_ other: IPv4CIDR) -> Bool { contains(other.network) || other.contains(network) }

    public var description: String { "\(network)/\(prefix)" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let v = IPv4CIDR(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv4 CIDR: \(s)")
        }
        self = v
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension String {
    package func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
