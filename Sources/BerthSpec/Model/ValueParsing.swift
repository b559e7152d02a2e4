/// Why a text is not a valid value; `message` reads after the value, as in
/// `"12Zi" is not a size`, and `hint` shows the expected form.
public struct ValueError: Error, Sendable, Equatable {
    public var message: String
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}

extension ByteSize {
    /// Parses a size: an integer of bytes, or an integer with a binary unit
    /// (`k`/`K`/`Ki`, `m`/`M`/`Mi`, `g`/`G`/`Gi`, `t`/`T`/`Ti`: all powers of 1024),
    /// optionally followed by `B`. Keeps `text` as written.
    public init(parsing text: String) throws(ValueError) {
        let usage = "use e.g. 128Mi"
        let digits = text.utf8.prefix { $0 >= 48 && $0 <= 57 }
        guard !digits.isEmpty else { throw ValueError("\(quoted(text)) is not a size", hint: usage) }
        var unit = Substring(text).dropFirst(digits.count)
        if unit.hasSuffix("B") { unit = unit.dropLast() }
        let shift: UInt64
        switch unit {
        case "": shift = 0
        case "k", "K", "Ki": shift = 10
        case "m", "M", "Mi": shift = 20
        case "g", "G", "Gi": shift = 30
        case "t", "T", "Ti": shift = 40
        default: throw ValueError("\(quoted(text)) is not a size", hint: usage)
        }
        guard let n = UInt64(String(decoding: digits, as: UTF8.self)) else {
            throw ValueError("\(quoted(text)) is too large")
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow, bytes <= UInt64(Int64.max) else { throw ValueError("\(quoted(text)) is too large") }
        self.init(bytes: bytes, text: text)
    }
}

extension CPUAmount {
    /// The largest amount accepted, in millicores (10,000 cores).
    public static let maxMillicores = 10_000_000

    /// Parses a CPU amount: cores (`2`, `0.5`, `1.25`, at most 3 decimals) or
    /// millicores (`500m`). Must be more than 0.
    public init(parsing text: String) throws(ValueError) {
        let usage = "use cores such as 0.5 or 2, or millicores such as \"500m\""
        var millicores = 0
        let bytes = Array(text.utf8)
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        if bytes.count > 1, bytes.last == UInt8(ascii: "m"), bytes.dropLast().allSatisfy(isDigit) {
            guard bytes.count <= 10, let n = Int(text.dropLast()) else { throw ValueError("\(quoted(text)) is too large") }
            millicores = n
        } else {
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard let whole = parts.first, !whole.isEmpty, whole.utf8.allSatisfy(isDigit),
                  parts.count == 1 || (!parts[1].isEmpty && parts[1].utf8.allSatisfy(isDigit)) else {
                throw ValueError("\(quoted(text)) is not a CPU amount", hint: usage)
            }
            guard whole.count <= 6, let cores = Int(whole) else { throw ValueError("\(quoted(text)) is too large") }
            var fraction = 0
            if parts.count == 2 {
                let digits = Array(parts[1].utf8)
                if digits.count > 3, digits[3...].contains(where: { $0 != UInt8(ascii: "0") }) {
                    throw ValueError("\(quoted(text)) is finer than a millicore", hint: "use at most 3 decimals, e.g. 0.125")
                }
                for i in 0..<3 { fraction = fraction * 10 + (i < digits.count ? Int(digits[i] - 48) : 0) }
            }
            millicores = cores * 1000 + fraction
        }
        guard millicores > 0 else { throw ValueError("\(quoted(text)) is not more than 0", hint: usage) }
        guard millicores <= CPUAmount.maxMillicores else {
            throw ValueError("\(quoted(text)) is too large (at most \(CPUAmount.maxMillicores / 1000) cores)")
        }
        self.init(millicores: millicores, text: text)
    }
}

extension TimeSpan {
    /// Parses a duration: integers with units `h`, `m`, `s` and `ms`, largest unit first,
    /// each at most once: `500ms`, `10s`, `1m30s`, `1h`. A bare number has no unit and is refused.
    public init(parsing text: String) throws(ValueError) {
        let usage = "use e.g. 500ms, 10s, 1m30s or 1h"
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw ValueError("\(quoted(text)) is not a duration", hint: usage) }
        var i = 0
        var total = 0
        var lastRank = Int.max
        while i < bytes.count {
            let start = i
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            guard i > start else { throw ValueError("\(quoted(text)) is not a duration", hint: usage) }
            guard i - start <= 12, let n = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else {
                throw ValueError("\(quoted(text)) is too long a duration")
            }
            let factor: Int
            let rank: Int
            if i + 1 < bytes.count, bytes[i] == UInt8(ascii: "m"), bytes[i + 1] == UInt8(ascii: "s") {
                (factor, rank) = (1, 0)
                i += 2
            } else if i < bytes.count, bytes[i] == UInt8(ascii: "s") {
                (factor, rank) = (1000, 1)
                i += 1
            } else if i < bytes.count, bytes[i] == UInt8(ascii: "m") {
                (factor, rank) = (60_000, 2)
                i += 1
            } else if i < bytes.count, bytes[i] == UInt8(ascii: "h") {
                (factor, rank) = (3_600_000, 3)
                i += 1
            } else if i == bytes.count, start == 0 {
                throw ValueError("\(quoted(text)) has no unit", hint: "write e.g. \(text)s")
            } else {
                throw ValueError("\(quoted(text)) is not a duration", hint: usage)
            }
            guard rank < lastRank else {
                throw ValueError("\(quoted(text)) is not a duration", hint: "write units largest first, each once: \(usage)")
            }
            lastRank = rank
            let (part, o1) = n.multipliedReportingOverflow(by: factor)
            let (sum, o2) = total.addingReportingOverflow(part)
            guard !o1, !o2 else { throw ValueError("\(quoted(text)) is too long a duration") }
            total = sum
        }
        self.init(milliseconds: total, text: text)
    }
}

extension CPUSet {
    /// Parses the kernel's list format (`0-1,3`): at least one CPU, each below 8192.
    public init(parsing text: String) throws(ValueError) {
        guard let set = CPUSet.parse(text) else {
            throw ValueError("\(quoted(text)) is not a CPU list", hint: "use CPU numbers and ranges, e.g. \"0-1,3\"")
        }
        guard !set.cpus.isEmpty else { throw ValueError("names no CPU", hint: "use CPU numbers and ranges, e.g. \"0-1,3\"") }
        self = set
    }
}

extension IODevice {
    /// Parses a block device: an absolute path under `/dev/`, or `MAJ:MIN`.
    public init(parsing text: String) throws(ValueError) {
        let usage = "use a block device path such as /dev/vda, or \"MAJ:MIN\" such as \"254:0\""
        if text.hasPrefix("/dev/") {
            let rest = text.dropFirst(5)
            guard !rest.isEmpty, !rest.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0.isEmpty }) else {
                throw ValueError("\(quoted(text)) is not a device", hint: usage)
            }
            self = .path(text)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        func number(_ s: Substring) -> UInt32? {
            guard !s.isEmpty, s.count <= 10, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return UInt32(s)
        }
        guard parts.count == 2, let major = number(parts[0]), let minor = number(parts[1]) else {
            throw ValueError("\(quoted(text)) is not a device", hint: usage)
        }
        self = .number(major: major, minor: minor)
    }
}
