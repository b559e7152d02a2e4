/// A small JSON reader and `Decoder` for the configuration berth init reads on fd 3,
/// and the writer of the JSON it writes (`exit.json`; nftables' input is written with it too).
///
/// berth-init links no Foundation (its pages are every container's memory), so it
/// has no JSONDecoder. This parses the few hundred bytes of the request into a tree
/// and decodes from it with no dynamic casts. The parent writes the request with
/// FoundationEssentials' JSONEncoder. berth decodes its records with it too, and reads its
/// tree where a document's shape is not berth's (a registry credentials file, an image's
/// `oci-layout`, a config to print): FoundationEssentials has no JSONSerialization.
package enum InitJSON {
    package indirect enum Value: Equatable, Sendable {
        case null
        case bool(Bool)
        case number(Substring)
        case string(String)
        case array([Value])
        case object([(String, Value)])

        package static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null): true
            case (.bool(let x), .bool(let y)): x == y
            case (.number(let x), .number(let y)): x == y
            case (.string(let x), .string(let y)): x == y
            case (.array(let x), .array(let y)): x == y
            case (.object(let x), .object(let y)): x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
            default: false
            }
        }
    }

    package struct SyntaxError: Error, CustomStringConvertible {
        package var offset: Int
        package var description: String { "malformed JSON at byte \(offset)" }
    }

    package static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try T(from: TreeDecoder(value: Value.parse(bytes), codingPath: []))
    }

    // MARK: - parsing

    package struct Parser {
        let bytes: [UInt8]
        var i = 0

        package init(bytes: [UInt8]) { self.bytes = bytes }

        package mutating func parseDocument() throws -> Value {
            let value = try parseValue()
            skipSpace()
            guard i == bytes.count else { throw SyntaxError(offset: i) }
            return value
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ literal: String) throws {
            for byte in literal.utf8 {
                guard i < bytes.count, bytes[i] == byte else { throw SyntaxError(offset: i) }
                i += 1
            }
        }

        mutating func parseValue() throws -> Value {
            skipSpace()
            guard i < bytes.count else { throw SyntaxError(offset: i) }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(String, Value)] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw SyntaxError(offset: i) }
                    let key = try parseString()
                    skipSpace()
                    try expect(":")
                    members.append((key, try parseValue()))
                    skipSpace()
                    guard i < bytes.count else { throw SyntaxError(offset: i) }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    throw SyntaxError(offset: i)
                }
            case UInt8(ascii: "["):
                i += 1
                var elements: [Value] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
                while true {
                    elements.append(try parseValue())
                    skipSpace()
                    guard i < bytes.count else { throw SyntaxError(offset: i) }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
                    throw SyntaxError(offset: i)
                }
            case UInt8(ascii: "\""):
                return .string(try parseString())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default:
                let start = i
                while i < bytes.count, (0x30...0x39).contains(bytes[i]) || "+-.eE".utf8.contains(bytes[i]) { i += 1 }
                guard i > start else { throw SyntaxError(offset: i) }
                return .number(Substring(decoding: bytes[start..<i], as: UTF8.self))
            }
        }

        mutating func parseString() throws -> String {
            i += 1  // the opening quote
            var out: [UInt8] = []
            while i < bytes.count {
                let c = bytes[i]
                i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                guard c == UInt8(ascii: "\\") else {
                    out.append(c)
                    continue
                }
                guard i < bytes.count else { break }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        try expect("\\u")
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw SyntaxError(offset: i) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw SyntaxError(offset: i) }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: out.append(e)  // \" \\ \/
                }
            }
            throw SyntaxError(offset: i)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16)
            else { throw SyntaxError(offset: i) }
            i += 4
            return v
        }
    }

    // MARK: - decoding

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init(intValue: Int) {
            self.stringValue = String(intValue)
            self.intValue = intValue
        }
    }

    static func mismatch(_ type: Any.Type, _ path: [any CodingKey], _ value: Value) -> DecodingError {
        .typeMismatch(type, .init(codingPath: path, debugDescription: "found \(value.summary)"))
    }

    /// Decodes one leaf; nil when `T` is not a leaf type (then `T(from:)` is used). `path`
    /// is built only for an error: a record's decoding reads hundreds of leaves.
    static func leaf<T>(_ type: T.Type, _ value: Value, _ path: @autoclosure () -> [any CodingKey]) throws -> T? {
        func number<N: LosslessStringConvertible>(_: N.Type) throws -> T {
            guard case .number(let text) = value, let n = N(String(text)) else { throw mismatch(T.self, path(), value) }
            // T is N (checked by the caller): no dynamic cast.
            return unsafeBitCast(n, to: T.self)
        }
        if T.self == String.self {
            guard case .string(let s) = value else { throw mismatch(T.self, path(), value) }
            return unsafeBitCast(s, to: T.self)
        }
        if T.self == Bool.self {
            guard case .bool(let b) = value else { throw mismatch(T.self, path(), value) }
            return unsafeBitCast(b, to: T.self)
        }
        // Every number type of the standard library: one left out would decode itself forever.
        if T.self == Int.self { return try number(Int.self) }
        if T.self == Int8.self { return try number(Int8.self) }
        if T.self == Int16.self { return try number(Int16.self) }
        if T.self == Int32.self { return try number(Int32.self) }
        if T.self == Int64.self { return try number(Int64.self) }
        if T.self == UInt.self { return try number(UInt.self) }
        if T.self == UInt8.self { return try number(UInt8.self) }
        if T.self == UInt16.self { return try number(UInt16.self) }
        if T.self == UInt32.self { return try number(UInt32.self) }
        if T.self == UInt64.self { return try number(UInt64.self) }
        if T.self == Double.self { return try number(Double.self) }
        if T.self == Float.self { return try number(Float.self) }
        return nil
    }

    struct TreeDecoder: Decoder {
        let value: Value
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<K: CodingKey>(keyedBy type: K.Type) throws -> KeyedDecodingContainer<K> {
            guard case .object(let members) = value else { throw mismatch([String: Any].self, codingPath, value) }
            return KeyedDecodingContainer(Keyed<K>(members: members, codingPath: codingPath))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard case .array(let elements) = value else { throw mismatch([Any].self, codingPath, value) }
            return Unkeyed(elements: elements, codingPath: codingPath)
        }

        func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(value: value, codingPath: codingPath) }
    }

    struct Single: SingleValueDecodingContainer {
        let value: Value
        let codingPath: [any CodingKey]
        func decodeNil() -> Bool { value == .null }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            if let leaf = try leaf(T.self, value, codingPath) { return leaf }
            return try T(from: TreeDecoder(value: value, codingPath: codingPath))
        }
    }

    struct Keyed<K: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [(String, Value)]
        let codingPath: [any CodingKey]

        var allKeys: [K] { members.compactMap { K(stringValue: $0.0) } }
        func contains(_ key: K) -> Bool { member(key) != nil }

        /// The first member named `key` (as JSONDecoder reads a repeated name).
        func member(_ key: K) -> Value? {
            let name = key.stringValue
            return members.first(where: { $0.0 == name })?.1
        }

        func find(_ key: K) throws -> Value {
            guard let value = member(key) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
            }
            return value
        }

        func decodeNil(forKey key: K) throws -> Bool { try find(key) == .null }

        func decode<T: Decodable>(_ type: T.Type, forKey key: K) throws -> T {
            try decode(T.self, try find(key), key)
        }

        /// One look-up for an optional field, where the protocol's default makes three
        /// (contains, decodeNil, decode); absent and null are both nil, as with JSONDecoder.
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: K) throws -> T? {
            guard let value = member(key) else { return nil }
            if case .null = value { return nil }
            return try decode(T.self, value, key)
        }

        private func decode<T: Decodable>(_ type: T.Type, _ value: Value, _ key: K) throws -> T {
            if let leaf = try leaf(T.self, value, codingPath + [key]) { return leaf }
            return try T(from: TreeDecoder(value: value, codingPath: codingPath + [key]))
        }

        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: K) throws -> KeyedDecodingContainer<N> {
            try TreeDecoder(value: find(key), codingPath: codingPath + [key]).container(keyedBy: N.self)
        }

        func nestedUnkeyedContainer(forKey key: K) throws -> any UnkeyedDecodingContainer {
            try TreeDecoder(value: find(key), codingPath: codingPath + [key]).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder { TreeDecoder(value: .object(members), codingPath: codingPath) }
        func superDecoder(forKey key: K) throws -> any Decoder {
            TreeDecoder(value: try find(key), codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let elements: [Value]
        let codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        init(elements: [Value], codingPath: [any CodingKey]) {
            self.elements = elements
            self.codingPath = codingPath
        }

        /// The index of the next element, consumed.
        mutating func nextIndex() throws -> Int {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(Value.self, .init(codingPath: codingPath, debugDescription: "end of array"))
            }
            defer { currentIndex += 1 }
            return currentIndex
        }

        func path(_ index: Int) -> [any CodingKey] { codingPath + [Key(intValue: index)] }

        mutating func next() throws -> (Value, [any CodingKey]) {
            let index = try nextIndex()
            return (elements[index], path(index))
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, elements[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let index = try nextIndex()
            if let leaf = try leaf(T.self, elements[index], path(index)) { return leaf }
            return try T(from: TreeDecoder(value: elements[index], codingPath: path(index)))
        }

        mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) throws -> KeyedDecodingContainer<N> {
            let (value, path) = try next()
            return try TreeDecoder(value: value, codingPath: path).container(keyedBy: N.self)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (value, path) = try next()
            return try TreeDecoder(value: value, codingPath: path).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let (value, path) = try next()
            return TreeDecoder(value: value, codingPath: path)
        }
    }
}

extension InitJSON.Value {
    /// Compact JSON text: nftables' input, berth init's `exit.json`.
    package var serialized: String {
        var out = ""
        write(to: &out, indent: nil)
        return out
    }

    /// Pretty JSON text, as JSONEncoder's `.prettyPrinted, .sortedKeys` writes it (two spaces
    /// a level, `"name" : value`), numbers and slashes as they were read: a document berth
    /// prints as it is (`berth image inspect`). A name an object repeats is written once,
    /// with its last value, as a JSON reader takes it.
    package var pretty: String {
        var out = ""
        write(to: &out, indent: "")
        return out
    }

    /// The tree of a whole JSON document.
    package static func parse(_ bytes: [UInt8]) throws -> Self {
        var parser = InitJSON.Parser(bytes: bytes)
        return try parser.parseDocument()
    }

    package static func parse(_ text: String) throws -> Self { try parse(Array(text.utf8)) }

    /// The last value an object gives `name` (as a JSON reader takes a repeated name); nil
    /// when it gives none or this is not an object.
    package subscript(_ name: String) -> Self? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == name }?.1
    }

    /// The value as an error names it: a leaf as JSON writes it, an array or an object by
    /// its size. Cheap on purpose: a `try?` that probes a shape (a field that is a string
    /// or an object) builds this error on the common path, and describing the enum through
    /// reflection cost more than the rest of a record's decoding.
    package var summary: String {
        switch self {
        case .null, .bool, .number, .string: serialized
        case .array(let items): "an array of \(items.count)"
        case .object(let members): "an object of \(members.count) members"
        }
    }

    /// The text of a string; nil for any other value.
    package var string: String? {
        guard case .string(let s) = self else { return nil }
        return s
    }

    /// A number that is an integer; nil for any other value.
    package var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        return Int(n)
    }

    /// An array's items; none for any other value.
    package var elements: [Self] {
        guard case .array(let items) = self else { return [] }
        return items
    }

    /// `indent`: nil for compact text, else the current level's indentation.
    private func write(to out: inout String, indent: String?) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONString.append(s, to: &out)
        case .array(let items):
            Self.write(items.map { (nil, $0) }, open: "[", close: "]", indent: indent, to: &out)
        case .object(let members):
            var listed = members
            if indent != nil {
                var byName: [String: InitJSON.Value] = [:]
                for (k, v) in members { byName[k] = v }
                listed = byName.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            }
            Self.write(listed.map { ($0.0, $0.1) }, open: "{", close: "}", indent: indent, to: &out)
        }
    }

    /// An array's items (names nil) or an object's members, between `open` and `close`.
    private static func write(_ items: [(String?, InitJSON.Value)], open: String, close: String,
                              indent: String?, to out: inout String) {
        guard !items.isEmpty else { out += open + close; return }
        let inner = indent.map { $0 + "  " }
        out += open
        for (i, (name, value)) in items.enumerated() {
            if i > 0 { out += "," }
            if let inner { out += "\n" + inner }
            if let name {
                JSONString.append(name, to: &out)
                out += inner == nil ? ":" : " : "
            }
            value.write(to: &out, indent: inner)
        }
        if let indent { out += "\n" + indent }
        out += close
    }
}
