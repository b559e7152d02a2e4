import Testing
@testable import BerthSpec

@Suite("YAML parser")
struct YAMLParserTests {
    func parse(_ text: String) -> YAMLParser.Result {
        YAMLParser.parse(Array(text.utf8), file: "t.yaml")
    }

    func root(_ text: String) throws -> YAMLNode {
        let result = parse(text)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        return try #require(result.root)
    }

    @Test("nodes keep 1-based line and column, counted in characters")
    func positions() throws {
        let node = try root("a: 1\nbb:\n  - x\n  - {k: v}\nc: \"ünï\" # comment\nd: é\n")
        let entries = try #require(node.entries)
        #expect(entries.map(\.key.value) == ["a", "bb", "c", "d"])
        #expect(entries[0].key.location == SourceLocation(line: 1, column: 1))
        #expect(entries[0].value.location == SourceLocation(line: 1, column: 4))
        let items = try #require(entries[1].value.items)
        #expect(items[0].location == SourceLocation(line: 3, column: 5))
        #expect(items[1].location == SourceLocation(line: 4, column: 5))
        #expect(items[1]["k"]?.location == SourceLocation(line: 4, column: 9))
        #expect(entries[2].value.scalar?.value == "ünï")
        #expect(entries[3].value.location == SourceLocation(line: 6, column: 4))
    }

    static let kindCases: [(String, YAMLScalar.Kind)] = [
        ("1", .int), ("-12", .int), ("+3", .int), ("0x1F", .int), ("0o17", .int),
        ("1.5", .float), ("-.5", .float), ("1e3", .float), (".inf", .float), (".NaN", .float),
        ("true", .bool), ("False", .bool), ("~", .null), ("null", .null), ("", .null),
        ("yes", .string), ("on", .string), ("0755x", .string), ("1_000", .string), ("12Zi", .string),
        ("\"1\"", .string), ("'true'", .string), ("\"\"", .string), ("1:2", .string), ("10.88.1.0/24", .string),
    ]

    @Test("scalars get YAML 1.2 core types; quoted and block scalars stay strings", arguments: kindCases)
    func kinds(_ text: String, _ kind: YAMLScalar.Kind) throws {
        let node = try root("v: \(text)\n")
        #expect(node["v"]?.scalar?.kind == kind)
    }

    @Test("integer and number values")
    func values() throws {
        let node = try root("a: 0x1F\nb: 0o17\nc: -42\nd: 2.5\ne: true\nf: 99999999999999999999\n")
        #expect(node["a"]?.scalar?.intValue == 31)
        #expect(node["b"]?.scalar?.intValue == 15)
        #expect(node["c"]?.scalar?.intValue == -42)
        #expect(node["d"]?.scalar?.doubleValue == 2.5)
        #expect(node["e"]?.scalar?.boolValue == true)
        #expect(node["f"]?.scalar?.kind == .int)
        #expect(node["f"]?.scalar?.intValue == nil, "too large for an Int, still not a string")
    }

    @Test("scalar styles are kept")
    func styles() throws {
        let node = try root("a: plain\nb: 'single'\nc: \"double\"\nd: |\n  lit\ne: >\n  fold\n")
        #expect(node["a"]?.scalar?.style == .plain)
        #expect(node["b"]?.scalar?.style == .singleQuoted)
        #expect(node["c"]?.scalar?.style == .doubleQuoted)
        #expect(node["d"]?.scalar?.style == .literal)
        #expect(node["d"]?.scalar?.value == "lit\n")
        #expect(node["e"]?.scalar?.style == .folded)
    }

    @Test("explicit tags set the type, and are checked")
    func tags() throws {
        let node = try root("a: !!str 1\nb: !!int \"7\"\nc: !!float 1\nd: ! 12\n")
        #expect(node["a"]?.scalar?.kind == .string)
        #expect(node["b"]?.scalar?.kind == .int)
        #expect(node["c"]?.scalar?.kind == .float)
        #expect(node["d"]?.scalar?.kind == .string)
        #expect(parse("a: !!int x\n").diagnostics.first?.message == "\"x\" is not a valid int")
        #expect(parse("a: !custom x\n").diagnostics.first?.message == "the tag \"!custom\" is not supported")
        #expect(parse("a: !!set {x}\n").diagnostics.first?.message.contains("is not supported") == true)
    }

    @Test("a duplicate key is reported at the second occurrence")
    func duplicateKey() {
        let result = parse("a: 1\nb: 2\n\"a\": 3\n")
        #expect(result.diagnostics.count == 1)
        #expect(result.diagnostics.first?.location == SourceLocation(line: 3, column: 1))
        #expect(result.diagnostics.first?.message == "duplicate key \"a\" (first defined at line 1)")
    }

    @Test("aliases share their anchor's node")
    func aliases() throws {
        let node = try root("base: &b {x: 1, y: [1, 2]}\ncopy: *b\nscalar: &s hello\nagain: *s\n")
        #expect(node["copy"]?["x"]?.scalar?.value == "1")
        #expect(node["copy"]?["y"]?.items?.count == 2)
        #expect(node["again"]?.scalar?.value == "hello")
        // An alias node is positioned where the alias is written.
        #expect(node["copy"]?.location == SourceLocation(line: 2, column: 7))
    }

    @Test("merge keys: explicit keys win wherever they are written, earlier merges win over later ones")
    func mergeKeys() throws {
        let node = try root("""
            a: &a {x: 1, y: 1, z: 1}
            b: &b {y: 2, w: 2}
            m:
              x: 0
              <<: [*b, *a]
              z: 9
            n:
              <<: *a
            """)
        let m = try #require(node["m"])
        #expect(m["x"]?.scalar?.value == "0")
        #expect(m["y"]?.scalar?.value == "2")
        #expect(m["z"]?.scalar?.value == "9")
        #expect(m["w"]?.scalar?.value == "2")
        #expect(m.entries?.map(\.key.value) == ["x", "y", "w", "z"])
        #expect(node["n"]?.entries?.map(\.key.value) == ["x", "y", "z"])
        #expect(node["m"]?["<<"] == nil)
    }

    @Test("a quoted \"<<\" is an ordinary key")
    func quotedMergeKey() throws {
        let node = try root("\"<<\": 1\n")
        #expect(node["<<"]?.scalar?.value == "1")
    }

    @Test("a merge of a scalar is an error at the scalar")
    func badMerge() {
        let result = parse("a:\n  <<: [1]\n")
        #expect(result.diagnostics.map(\.location) == [SourceLocation(line: 2, column: 8)])
    }

    @Test("the billion-laughs document stops at the alias budget")
    func aliasBomb() {
        var text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        let letters = Array("abcdefghijklmnop")
        for i in 1..<letters.count {
            let previous = letters[i - 1]
            text += "\(letters[i]): &\(letters[i]) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        let result = parse(text)
        #expect(result.root == nil)
        #expect(result.diagnostics.count == 1)
        #expect(result.diagnostics.first?.message == "aliases expand to more than \(YAMLParser.aliasBudget) nodes")
    }

    @Test("aliases within the budget are fine, however many")
    func manyAliases() throws {
        var text = "x: &x {a: 1}\nlist:\n"
        for _ in 0..<10_000 { text += "  - *x\n" }
        let node = try root(text)
        #expect(node["list"]?.items?.count == 10_000)
    }

    @Test("an alias to an unknown anchor is an error")
    func unknownAlias() {
        #expect(parse("a: *nope\n").diagnostics.first?.message == "the alias *nope names no anchor defined before it")
    }

    @Test("an anchor cannot refer to itself")
    func recursiveAnchor() {
        let result = parse("a: &a [1, *a]\n")
        #expect(result.root == nil)
        #expect(result.diagnostics.first?.message.contains("names no anchor") == true)
    }

    @Test("nesting deeper than the limit is an error, also in block style")
    func deepNesting() {
        let flow = parse(String(repeating: "[", count: 10_000))
        #expect(flow.diagnostics.first?.message == "mappings and lists nest deeper than \(YAMLParser.maxDepth) levels")
        var block = ""
        for depth in 0...(YAMLParser.maxDepth + 5) { block += String(repeating: " ", count: depth) + "k:\n" }
        let blockResult = parse(block)
        #expect(blockResult.diagnostics.first?.message.contains("nest deeper") == true)
        let fine = parse(String(repeating: "[", count: YAMLParser.maxDepth) + String(repeating: "]", count: YAMLParser.maxDepth))
        #expect(fine.diagnostics.isEmpty)
    }

    @Test("a second document is an error at its start")
    func twoDocuments() {
        let result = parse("a: 1\n---\nb: 2\n")
        #expect(result.diagnostics.map(\.location) == [SourceLocation(line: 2, column: 1)])
        #expect(result.diagnostics.first?.message.contains("one YAML document") == true)
        // An explicit end marker alone is fine.
        #expect(parse("---\na: 1\n...\n").diagnostics.isEmpty)
    }

    @Test("syntax errors carry libyaml's position")
    func syntaxErrors() {
        let unterminated = parse("a: [1, 2\nb: 3\n")
        #expect(unterminated.diagnostics.count == 1)
        #expect(unterminated.diagnostics.first?.line == 2)
        let badIndent = parse("a:\n  b: 1\n c: 2\n")
        #expect(badIndent.diagnostics.first?.line == 3)
        let quote = parse("a: \"open\n")
        #expect(quote.diagnostics.first?.message.contains("end of the stream") == true || quote.diagnostics.first?.message.contains("quoted") == true)
    }

    @Test("a tab used for indentation is named as such")
    func tabs() {
        let result = parse("a:\n\tb: 1\n")
        #expect(result.diagnostics.first?.location == SourceLocation(line: 2, column: 1))
        #expect(result.diagnostics.first?.message == "found a tab, which YAML does not allow for indentation")
        // A tab inside a value is fine.
        #expect(parse("a: \"x\ty\"\n").diagnostics.isEmpty)
    }

    @Test("invalid UTF-8 is positioned at the bad byte")
    func invalidUTF8() {
        let bytes: [UInt8] = Array("a: 1\nb: ab".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        let result = YAMLParser.parse(bytes, file: "t.yaml")
        #expect(result.diagnostics.count == 1)
        #expect(result.diagnostics.first?.location == SourceLocation(line: 2, column: 6))
        #expect(result.diagnostics.first?.message.hasPrefix("the file is not valid UTF-8") == true)
        let lone = YAMLParser.parse([0xFF], file: "t.yaml")
        #expect(lone.diagnostics.first?.location == SourceLocation(line: 1, column: 1))
    }

    @Test("a raw NUL or other control character is refused")
    func controlCharacters() {
        for byte: UInt8 in [0x00, 0x01, 0x1B, 0x7F] {
            let result = YAMLParser.parse(Array("a: x".utf8) + [byte] + Array("y\n".utf8), file: "t.yaml")
            #expect(result.diagnostics.count == 1, "byte \(byte)")
        }
    }

    @Test("UTF-16 with a byte order mark is read")
    func utf16() throws {
        var bytes: [UInt8] = [0xFF, 0xFE]
        for unit in "a: b\n".utf16 { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        let result = YAMLParser.parse(bytes, file: "t.yaml")
        #expect(result.diagnostics.isEmpty)
        #expect(result.root?["a"]?.scalar?.value == "b")
    }

    @Test("no document, an empty document")
    func empty() {
        #expect(parse("").root == nil)
        #expect(parse("# c\n").diagnostics.first?.message == "the file holds no YAML document")
        #expect(parse("---\n").root?.scalar?.kind == .null)
    }

    @Test("a non-scalar key is refused")
    func complexKey() {
        let result = parse("? [a]\n: 1\nb: 2\n")
        #expect(result.diagnostics.first?.message == "a key must be a plain value, not a list")
    }
}
