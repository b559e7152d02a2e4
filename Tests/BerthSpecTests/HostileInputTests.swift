import Foundation
import Testing
@testable import BerthSpec

/// Input written to hurt: each must end in positioned diagnostics, never a crash,
/// a hang or a large allocation. (No wall-clock assertions: the budgets are counts.)
@Suite("Hostile input")
struct HostileInputTests {
    func failure(_ bytes: [UInt8], _ name: String = "hostile.yaml") throws -> [Diagnostic] {
        switch SpecLoader.load(bytes: bytes, fileName: name, baseDirectory: "/") {
        case .success: 
            Issue.record("hostile input was accepted")
            return []
        case .failure(let error):
            #expect(!error.diagnostics.isEmpty)
            return error.diagnostics
        }
    }

    @Test("billion laughs: a clear error at the alias that crosses the budget")
    func billionLaughs() throws {
        var text = "version: 1\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        let names = Array("abcdefghi")
        for i in 1..<names.count {
            text += "\(names[i]): &\(names[i]) [" + Array(repeating: "*\(names[i - 1])", count: 9).joined(separator: ",") + "]\n"
        }
        let found = try failure(Array(text.utf8))
        #expect(found.count == 1)
        #expect(found[0].line == 7)
        #expect(found[0].message.contains("aliases expand to more than 100000 nodes"))
    }

    @Test("a quadratic blow-up through merge keys is bounded too")
    func mergeBomb() throws {
        var text = "version: 1\nm0: &m0 {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7}\n"
        for i in 1...30 { text += "m\(i): &m\(i) {<<: [*m\(i - 1), *m\(i - 1), *m\(i - 1), *m\(i - 1)], n\(i): \(i)}\n" }
        let found = try failure(Array(text.utf8))
        #expect(found.contains { $0.message.contains("aliases expand to more than") })
    }

    @Test("10,000 opening brackets")
    func deepFlow() throws {
        let found = try failure(Array(("version: 1\ncontainers: " + String(repeating: "[", count: 10_000)).utf8))
        #expect(found.count == 1)
        #expect(found[0].message.contains("nest deeper than"))
        #expect(found[0].line == 2)
    }

    @Test("10,000 opening braces")
    func deepMapping() throws {
        let found = try failure(Array(String(repeating: "{a: ", count: 10_000).utf8))
        #expect(found[0].message.contains("nest deeper than"))
    }

    @Test("deep block nesting")
    func deepBlock() throws {
        var text = "version: 1\n"
        for depth in 0..<1000 { text += String(repeating: " ", count: depth) + "k:\n" }
        let found = try failure(Array(text.utf8))
        #expect(found[0].message.contains("nest deeper than"))
    }

    @Test("a huge scalar where a name belongs is reported, shortened")
    func hugeScalar() throws {
        let name = String(repeating: "a", count: 4_000_000)
        let found = try failure(Array("version: 1\nproject: \(name)\ncontainers:\n  web: {rootfs: ./r, command: [a]}\n".utf8))
        #expect(found.count == 1)
        #expect(found[0].location == SourceLocation(line: 2, column: 10))
        #expect(found[0].message.count < 200, "the value is shortened in the message")
    }

    @Test("a huge key is reported without a costly suggestion")
    func hugeKey() throws {
        let key = String(repeating: "k", count: 1_000_000)
        let found = try failure(Array("version: 1\n\(key): 1\ncontainers:\n  web: {rootfs: ./r, command: [a]}\n".utf8))
        #expect(found.count == 1)
        #expect(found[0].message.count < 200)
    }

    @Test("many problems: the first 1000 reported, then a note that there are more")
    func manyErrors() throws {
        var text = "version: 1\ncontainers:\n  web:\n    rootfs: ./r\n    command: [a]\n"
        for i in 0..<999 { text += "    bogus\(i): 1\n" }
        #expect(try failure(Array(text.utf8)).count == 999)
        for i in 999..<50_000 { text += "    bogus\(i): 1\n" }
        let found = try failure(Array(text.utf8))
        #expect(found.count == Validator.maxDiagnostics + 1)
        #expect(found.first?.line == 6)
        #expect(found.last?.line == 1006)
        #expect(found.last?.message == "more than 1000 problems; berth stops reporting here")
    }

    @Test("many duplicate keys stop the parser after 1000")
    func manyDuplicates() throws {
        var text = "version: 1\nenv:\n"
        for _ in 0..<20_000 { text += "  same: 1\n" }
        let found = try failure(Array(text.utf8))
        #expect(found.count == Validator.maxDiagnostics + 1)
        #expect(found.last?.message.contains("stops reading here") == true)
    }

    @Test("thousands of unknown networks: no quadratic suggestions")
    func manyUnknownNetworks() throws {
        var text = "version: 1\nnetworks:\n"
        for n in 0..<300 { text += "  net\(n): {subnet: 10.\(n / 200).\(n % 200).0/24}\n" }
        text += "containers:\n"
        for c in 0..<500 { text += "  c\(c): {rootfs: ./r, command: [a], networks: [nett\(c)]}\n" }
        let found = try failure(Array(text.utf8))
        #expect(found.count == 500)
        #expect(found.allSatisfy { $0.hint == nil })
    }

    @Test("invalid UTF-8 bytes", arguments: [
        [0xFF], [0xC3, 0x28], [0xE2, 0x82], [0xF0, 0x28, 0x8C, 0xBC], [0xED, 0xA0, 0x80], [0xC0, 0xAF],
    ] as [[UInt8]])
    func invalidUTF8(_ bad: [UInt8]) throws {
        let found = try failure(Array("version: 1\nproject: x".utf8) + bad + Array("\ncontainers: {}\n".utf8))
        #expect(found.count == 1)
        #expect(found[0].line == 2)
        #expect(found[0].column == 11)
        #expect(found[0].message.contains("UTF-8"))
    }

    @Test("a NUL byte in the middle of the file")
    func nulByte() throws {
        let found = try failure(Array("version: 1\n".utf8) + [0] + Array("containers: {}\n".utf8))
        #expect(found[0].line == 2)
    }

    @Test("tabs for indentation")
    func tabs() throws {
        let found = try failure(Array("version: 1\ncontainers:\n\tweb:\n\t\trootfs: ./r\n".utf8))
        #expect(found.map(\.location) == [SourceLocation(line: 3, column: 1)])
        #expect(found[0].message.contains("tab"))
    }

    @Test("random bytes never crash", arguments: 0..<64)
    func randomBytes(_ seed: Int) throws {
        var generator = SplitMix(seed: UInt64(seed))
        let length = Int(generator.next() % 4096)
        let alphabet = Array("version: 1\ncontainers:\n  web: {rootfs: ./r, command: [a]}\n-[]{}:,&*!|>'\"#%@`?\t \n".utf8)
        var bytes: [UInt8] = []
        for _ in 0..<length {
            let r = generator.next()
            bytes.append(r % 8 == 0 ? UInt8(truncatingIfNeeded: r >> 8) : alphabet[Int(r >> 8) % alphabet.count])
        }
        _ = SpecLoader.load(bytes: bytes, fileName: "random.yaml", baseDirectory: "/")
    }

    @Test("truncations of a valid spec never crash, and each one is positioned")
    func truncations() throws {
        let text = try String(contentsOf: Repository.specs.appendingPathComponent("demo.yaml"), encoding: .utf8)
        let bytes = Array(text.utf8)
        for end in stride(from: 0, to: bytes.count, by: 7) {
            if case .failure(let error) = SpecLoader.load(bytes: Array(bytes[..<end]), fileName: "cut.yaml", baseDirectory: "/") {
                let lines = bytes[..<end].filter { $0 == UInt8(ascii: "\n") }.count + 1
                #expect(error.diagnostics.allSatisfy { $0.line <= lines + 1 }, "cut at \(end)")
            }
        }
    }
}

/// A small deterministic generator, so that a failing case can be replayed.
struct SplitMix: RandomNumberGenerator {
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
