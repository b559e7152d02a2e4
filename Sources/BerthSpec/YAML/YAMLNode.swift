/// A scalar of a YAML document, with the facts validation needs: where it was
/// written, how it was quoted, and what type the YAML 1.2 core schema gives it.
public struct YAMLScalar: Sendable, Hashable {
    public enum Style: Sendable, Hashable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    /// The type of a scalar under the YAML 1.2 core schema: only plain scalars
    /// (or explicit `!!int`-style tags) are ever anything but strings, so a
    /// quoted `"1"` stays a string.
    public enum Kind: Sendable, Hashable {
        case null, bool, int, float, string
    }

    public var value: String
    public var style: Style
    public var kind: Kind
    public var location: SourceLocation

    public init(value: String, style: Style, kind: Kind, location: SourceLocation) {
        self.value = value
        self.style = style
        self.kind = kind
        self.location = location
    }

    /// The core-schema type of an untagged scalar.
    public static func resolve(_ value: String, style: Style) -> Kind {
        guard style == .plain else { return .string }
        var value = value
        return value.withUTF8(classify)
    }

    private static let nulls: [[UInt8]] = ["~", "null", "Null", "NULL"].map { Array($0.utf8) }
    private static let bools: [[UInt8]] = ["true", "True", "TRUE", "false", "False", "FALSE"].map { Array($0.utf8) }
    private static let specialFloats: [[UInt8]] = [
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
    ].map { Array($0.utf8) }

    /// Works on bytes: this runs for every plain scalar of a file.
    private static func classify(_ bytes: UnsafeBufferPointer<UInt8>) -> Kind {
        guard let first = bytes.first else { return .null }
        switch first {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            if isIntegerSyntax(bytes) { return .int }
            if isFloatSyntax(bytes) || specialFloats.contains(where: { $0.elementsEqual(bytes) }) { return .float }
            return .string
        case UInt8(ascii: "~"), UInt8(ascii: "n"), UInt8(ascii: "N"):
            return nulls.contains { $0.elementsEqual(bytes) } ? .null : .string
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"):
            return bools.contains { $0.elementsEqual(bytes) } ? .bool : .string
        default:
            return .string
        }
    }

    /// The value of an `int` scalar (decimal, `0x` hex or `0o` octal); nil when it is not one or does not fit.
    public var intValue: Int? {
        kind == .int ? YAMLScalar.parseInteger(value) : nil
    }

    /// The value of an `int` or `float` scalar.
    public var doubleValue: Double? {
        switch kind {
        case .int: return intValue.map(Double.init)
        case .float:
            switch value.lowercased() {
            case ".inf", "+.inf": return .infinity
            case "-.inf": return -.infinity
            case ".nan": return .nan
            default: return Double(value)
            }
        default: return nil
        }
    }

    public var boolValue: Bool? {
        guard kind == .bool else { return nil }
        return value.lowercased() == "true"
    }

    static func parseInteger(_ s: String) -> Int? {
        var u = Substring(s)
        if u.hasPrefix("0x") { return isAll(u.dropFirst(2), hex: true) ? Int(u.dropFirst(2), radix: 16) : nil }
        if u.hasPrefix("0o") { return isAll(u.dropFirst(2), octal: true) ? Int(u.dropFirst(2), radix: 8) : nil }
        var negative = false
        if u.first == "-" || u.first == "+" {
            negative = u.first == "-"
            u = u.dropFirst()
        }
        guard isAll(u) else { return nil }
        guard let n = Int(u) else { return nil }
        return negative ? -n : n
    }

    /// Integer syntax whose value does not fit an Int still types as int (so it is not taken for a string).
    static func isIntegerSyntax(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { isIntegerSyntax($0) }
    }

    /// `[-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+`
    static func isIntegerSyntax(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        func digits(from i: Int, _ ok: (UInt8) -> Bool) -> Bool {
            i < b.count && b[i...].allSatisfy(ok)
        }
        if b.count > 2, b[0] == UInt8(ascii: "0"), b[1] == UInt8(ascii: "x") { return digits(from: 2, isHex) }
        if b.count > 2, b[0] == UInt8(ascii: "0"), b[1] == UInt8(ascii: "o") { return digits(from: 2) { $0 >= 48 && $0 <= 55 } }
        let start = (b.first == UInt8(ascii: "-") || b.first == UInt8(ascii: "+")) ? 1 : 0
        return digits(from: start, isDigit)
    }

    /// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
    static func isFloatSyntax(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        if i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") { i += 1 }
        let intStart = i
        while i < b.count, isDigit(b[i]) { i += 1 }
        let intDigits = i - intStart
        var fracDigits = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let fracStart = i
            while i < b.count, isDigit(b[i]) { i += 1 }
            fracDigits = i - fracStart
            if intDigits == 0 && fracDigits == 0 { return false }
        } else if intDigits == 0 {
            return false
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") { i += 1 }
            let expStart = i
            while i < b.count, isDigit(b[i]) { i += 1 }
            if i == expStart { return false }
        }
        return i == b.count
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    private static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) }

    private static func isAll(_ s: Substring, hex: Bool = false, octal: Bool = false) -> Bool {
        guard !s.isEmpty else { return false }
        return s.utf8.allSatisfy { c in
            if octal { return c >= 48 && c <= 55 }
            if c >= 48 && c <= 57 { return true }
            return hex && ((c >= 65 && c <= 70) || (c >= 97 && c <= 102))
        }
    }
}

/// A node of a parsed YAML document: aliases are already expanded (shared, not
/// copied) and merge keys (`<<`) already applied, so that validation sees plain data.
public struct YAMLNode: Sendable {
    public struct Entry: Sendable {
        public var key: YAMLScalar
        public var value: YAMLNode
    }

    public enum Content: Sendable {
        case scalar(YAMLScalar)
        /// Entries in the order written; keys are unique.
        case mapping([Entry])
        case sequence([YAMLNode])
    }

    public var content: Content
    public var location: SourceLocation
    /// The number of nodes this one stands for once aliases are expanded; bounds alias bombs.
    public var weight: Int

    public init(_ content: Content, location: SourceLocation, weight: Int = 1) {
        self.content = content
        self.location = location
        self.weight = weight
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let s) = content { return s }
        return nil
    }

    public var entries: [Entry]? {
        if case .mapping(let e) = content { return e }
        return nil
    }

    public var items: [YAMLNode]? {
        if case .sequence(let i) = content { return i }
        return nil
    }

    /// The value under `key` of a mapping node.
    public subscript(key: String) -> YAMLNode? {
        entries?.first { $0.key.value == key }?.value
    }

    /// "a mapping", "a list", "the number 12", "null": how error messages name what was found.
    public var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s):
            switch s.kind {
            case .null: return "an empty value"
            case .bool: return "the boolean \(s.value)"
            case .int, .float: return "the number \(s.value)"
            case .string: return "the string \(quoted(s.value))"
            }
        }
    }
}

/// `"value"`, shortened for messages when long, with control characters escaped.
func quoted(_ s: String, limit: Int = 60) -> String {
    var out = "\""
    var count = 0
    for ch in s.unicodeScalars {
        if count == limit {
            out += "…"
            break
        }
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if ch.value < 0x20 || ch.value == 0x7f {
                out += "\\u{\(String(ch.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(ch)
            }
        }
        count += 1
    }
    return out + "\""
}
