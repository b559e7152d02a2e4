import Foundation
import Testing
@testable import BerthSpec

@Suite("Values")
struct ValueParsingTests {
    static let mi: UInt64 = 1 << 20
    static let sizeCases: [(String, UInt64)] = [
        ("0", 0), ("1024", 1024), ("1k", 1024), ("1K", 1024), ("1Ki", 1024), ("1KiB", 1024), ("1kB", 1024),
        ("128Mi", 128 * mi), ("128m", 128 * mi), ("128M", 128 * mi), ("128MB", 128 * mi),
        ("2g", 2048 * mi), ("2G", 2048 * mi), ("2Gi", 2048 * mi), ("2GiB", 2048 * mi),
        ("1t", 1024 * 1024 * mi), ("1T", 1024 * 1024 * mi), ("1Ti", 1024 * 1024 * mi), ("512B", 512),
    ]

    @Test("sizes: binary units with or without i and B, plain bytes", arguments: sizeCases)
    func sizes(_ text: String, _ bytes: UInt64) throws {
        let size = try ByteSize(parsing: text)
        #expect(size.bytes == bytes)
        #expect(size.text == text, "the text is kept as written")
    }

    @Test("not sizes", arguments: ["", "Mi", "12Zi", "1.5Gi", "-1", "1 Mi", "1ki", "1mi", "1P", "1iB", "0x10", "1Bi", "1BB"])
    func notSizes(_ text: String) {
        #expect(throws: ValueError.self) { try ByteSize(parsing: text) }
    }

    @Test("sizes that do not fit are too large, not wrapped")
    func sizeOverflow() {
        #expect(throws: ValueError("\"99999999999Ti\" is too large")) { try ByteSize(parsing: "99999999999Ti") }
        #expect(throws: ValueError.self) { try ByteSize(parsing: "99999999999999999999999") }
        #expect(throws: ValueError.self) { try ByteSize(parsing: "8388608Ti") }
        #expect((try? ByteSize(parsing: "8388607Ti"))?.bytes == 8_388_607 << 40)
    }

    @Test("the error message names the value and shows an example")
    func sizeMessage() {
        #expect(throws: ValueError("\"12Zi\" is not a size", hint: "use e.g. 128Mi")) { try ByteSize(parsing: "12Zi") }
    }

    static let cpuCases: [(String, Int)] = [
        ("2", 2000), ("0.5", 500), ("0.25", 250), ("1.125", 1125), ("1.5000", 1500), ("500m", 500), ("1m", 1),
        ("0.001", 1), ("10000", 10_000_000),
    ]

    @Test("CPU amounts: cores or millicores", arguments: cpuCases)
    func cpus(_ text: String, _ millicores: Int) throws {
        let amount = try CPUAmount(parsing: text)
        #expect(amount.millicores == millicores)
        #expect(amount.text == text)
    }

    @Test("not CPU amounts", arguments: ["0", "0.0", "0m", "-1", "0.0005", "1.0001", ".5", "5.", "1e3", "fast", "500 m", "m", "10001", "99999999999m"])
    func notCPUs(_ text: String) {
        #expect(throws: ValueError.self) { try CPUAmount(parsing: text) }
    }

    static let durationCases: [(String, Int)] = [
        ("500ms", 500), ("10s", 10_000), ("1m30s", 90_000), ("1h", 3_600_000), ("1h2m3s4ms", 3_723_004), ("0s", 0),
        ("90m", 5_400_000), ("1m1ms", 60_001),
    ]

    @Test("durations", arguments: durationCases)
    func durations(_ text: String, _ ms: Int) throws {
        let span = try TimeSpan(parsing: text)
        #expect(span.milliseconds == ms)
        #expect(span.text == text)
    }

    @Test("not durations", arguments: ["", "10", "s", "1.5s", "30s1m", "1s1s", "10 s", "1d", "-1s", "1ms1s", "999999999999999h"])
    func notDurations(_ text: String) {
        #expect(throws: ValueError.self) { try TimeSpan(parsing: text) }
    }

    @Test("a bare number has no unit, and the hint adds one")
    func durationHint() {
        #expect(throws: ValueError("\"10\" has no unit", hint: "write e.g. 10s")) { try TimeSpan(parsing: "10") }
    }

    @Test("CPU lists")
    func cpusets() throws {
        #expect(try CPUSet(parsing: "0-2,5").cpus == [0, 1, 2, 5])
        #expect(try CPUSet(parsing: "3,1,1").text == "1,3")
        #expect(try CPUSet(parsing: "0").text == "0")
        for bad in ["", "0-", "-1", "3-1", "a", "0,,1", "8192", "0-8192"] {
            #expect(throws: ValueError.self, "\(bad)") { try CPUSet(parsing: bad) }
        }
    }

    @Test("users: names or numbers, user[:group]; the group is optional")
    func users() throws {
        #expect(try User(parsing: "1000") == User(user: .id(1000)))
        #expect(try User(parsing: "1000").numericIdentity == Identity(uid: 1000, gid: 1000))
        #expect(try User(parsing: "0:5") == User(uid: 0, gid: 5))
        #expect(try User(parsing: "4294967294:4294967294") == User(uid: 4_294_967_294, gid: 4_294_967_294))
        #expect(try User(parsing: "nobody") == User(user: .name("nobody")))
        #expect(try User(parsing: "redis:redis") == User(user: .name("redis"), group: .name("redis")))
        #expect(try User(parsing: "postgres:1000") == User(user: .name("postgres"), group: .id(1000)))
        #expect(try User(parsing: "1000:www-data") == User(user: .id(1000), group: .name("www-data")))
        #expect(try User(parsing: "machine$") == User(user: .name("machine$")))
        #expect(try User(parsing: "nobody").numericIdentity == nil)
        for bad in ["", "1000:", ":1", "1:2:3", "-1", "-x", "4294967295", "99999999999", "a b", "a$b", "é",
                    "a/b", String(repeating: "u", count: 33)] {
            #expect(throws: ValueError.self, "\(bad)") { try User(parsing: bad) }
        }
    }

    @Test("users: records keep the text; records of older berth ({uid, gid}) still read")
    func userCoding() throws {
        let user = try User(parsing: "redis:redis")
        let data = try JSONEncoder().encode(user)
        #expect(String(decoding: data, as: UTF8.self) == "\"redis:redis\"")
        #expect(try JSONDecoder().decode(User.self, from: data) == user)
        let legacy = try JSONDecoder().decode(User.self, from: Data(#"{"uid":1000,"gid":2000}"#.utf8))
        #expect(legacy == User(uid: 1000, gid: 2000))
    }

    @Test("io devices: a path under /dev, or MAJ:MIN")
    func devices() throws {
        #expect(try IODevice(parsing: "/dev/vda") == .path("/dev/vda"))
        #expect(try IODevice(parsing: "/dev/mapper/root") == .path("/dev/mapper/root"))
        #expect(try IODevice(parsing: "254:0") == .number(major: 254, minor: 0))
        for bad in ["vda", "/dev/", "/dev/../etc/passwd", "/dev//vda", "254", "254:", ":0", "a:b", "1:2:3", "/sys/block/vda"] {
            #expect(throws: ValueError.self, "\(bad)") { try IODevice(parsing: bad) }
        }
    }

    @Test("signals by name, short name, any case, or number")
    func signals() {
        #expect(Signal.named("SIGTERM")?.number == 15)
        #expect(Signal.named("term")?.name == "SIGTERM")
        #expect(Signal.named("sigint")?.number == 2)
        #expect(Signal.named("9")?.name == "SIGKILL")
        #expect(Signal.named("SIGFOO") == nil)
        #expect(Signal.named("99") == nil)
    }

    @Test("capability names with or without CAP_, in any case")
    func capabilities() {
        #expect(Capability.canonicalName("net_bind_service") == "CAP_NET_BIND_SERVICE")
        #expect(Capability.canonicalName("CAP_SYS_ADMIN") == "CAP_SYS_ADMIN")
        #expect(Capability.canonicalName("cap_checkpoint_restore") == "CAP_CHECKPOINT_RESTORE")
        #expect(Capability.canonicalName("NET_BIND_SERVIC") == nil)
        #expect(Capability.canonicalName("ALL") == nil)
        #expect(Capability.number(of: "CAP_CHECKPOINT_RESTORE") == 40)
    }

    @Test("the capability table matches the kernel headers and the running kernel")
    func capabilityTable() throws {
        #expect(Capability.names.count == 41)
        if let header = try? String(contentsOfFile: "/usr/include/linux/capability.h", encoding: .utf8) {
            var fromHeader: [Int: String] = [:]
            for line in header.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count == 3, words[0] == "#define", words[1].hasPrefix("CAP_"), let n = Int(words[2]) {
                    fromHeader[n] = String(words[1])
                }
            }
            for (n, name) in fromHeader where n < Capability.names.count {
                #expect(Capability.names[n] == name)
            }
            #expect(fromHeader.count >= 41)
        }
        if let last = try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8),
           let n = Int(last.trimmingCharacters(in: .whitespacesAndNewlines)) {
            #expect(n <= Capability.names.count - 1, "the kernel knows capabilities berth does not")
        }
    }

    @Test("names for projects, containers and networks")
    func names() {
        #expect(Names.isValid("web", maxLength: 63))
        #expect(Names.isValid("0-a-9", maxLength: 63))
        #expect(!Names.isValid("", maxLength: 63))
        #expect(!Names.isValid("-web", maxLength: 63))
        #expect(!Names.isValid("Web", maxLength: 63))
        #expect(!Names.isValid("we_b", maxLength: 63))
        #expect(!Names.isValid("we.b", maxLength: 63))
        #expect(!Names.isValid("wéb", maxLength: 63))
        #expect(!Names.isValid("../x", maxLength: 63))
        #expect(Names.isValid(String(repeating: "a", count: 32), maxLength: Names.projectMaxLength))
        #expect(!Names.isValid(String(repeating: "a", count: 33), maxLength: Names.projectMaxLength))
    }

    @Test("host names: RFC 1123 labels")
    func hostnames() {
        #expect(Names.hostnameProblem("web") == nil)
        #expect(Names.hostnameProblem("Web-1.example.com") == nil)
        #expect(Names.hostnameProblem(String(repeating: "a", count: 63)) == nil)
        #expect(Names.hostnameProblem(String(repeating: "a", count: 64)) != nil)
        #expect(Names.hostnameProblem("a." + String(repeating: "b", count: 63)) != nil, "longer than 64 in all")
        for bad in ["", "-a", "a-", "a..b", ".a", "a.", "a_b", "a b"] {
            #expect(Names.hostnameProblem(bad) != nil, "\(bad)")
        }
    }

    @Test("the default bridge name: br- and 12 hex digits, stable, valid, distinct")
    func bridgeNames() {
        let name = Network.defaultBridgeName(project: "demo", network: "front")
        #expect(name.count == 15)
        #expect(name.hasPrefix("br-"))
        #expect(name.dropFirst(3).allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(Names.interfaceNameProblem(name) == nil)
        // A fixed value: networking code on another machine must derive the same name.
        #expect(name == Network.defaultBridgeName(project: "demo", network: "front"))
        #expect(name != Network.defaultBridgeName(project: "demo", network: "back"))
        #expect(Network.defaultBridgeName(project: "a-b", network: "c") != Network.defaultBridgeName(project: "a", network: "b-c"))
        var seen = Set<String>()
        for p in 0..<100 {
            for n in 0..<100 { seen.insert(Network.defaultBridgeName(project: "project\(p)", network: "net\(n)")) }
        }
        #expect(seen.count == 10_000)
    }

    @Test("the default bridge name is pinned, so that it never changes by accident")
    func bridgeNamePinned() {
        #expect(Network.defaultBridgeName(project: "demo", network: "front") == "br-d618f040ecd4")
    }

    @Test("interface names")
    func interfaceNames() {
        #expect(Names.interfaceNameProblem("br0") == nil)
        #expect(Names.interfaceNameProblem("shop-int.1_a") == nil)
        #expect(Names.interfaceNameProblem(String(repeating: "b", count: 15)) == nil)
        for bad in ["", String(repeating: "b", count: 16), "br/0", "br 0", ".br", "-br", "br:0"] {
            #expect(Names.interfaceNameProblem(bad) != nil, "\(bad)")
        }
    }

    @Test("did you mean: case, separators, typos and swaps")
    func suggestions() {
        let keys = Validator.containerKeys
        #expect(Suggestions.closest(to: "resorces", among: keys) == "resources")
        #expect(Suggestions.closest(to: "stop_signal", among: keys) == "stopSignal")
        #expect(Suggestions.closest(to: "READONLYROOTFS", among: keys) == "readOnlyRootfs")
        #expect(Suggestions.closest(to: "comand", among: keys) == "command")
        #expect(Suggestions.closest(to: "fornt", among: ["front", "back"]) == "front")
        #expect(Suggestions.closest(to: "zzzzzz", among: keys) == nil)
        #expect(Suggestions.closest(to: String(repeating: "x", count: 10_000), among: keys) == nil)
    }

    @Test("paths resolve lexically against the spec's directory")
    func paths() {
        #expect(Paths.resolve("./rootfs/busybox", against: "/work/specs") == "/work/specs/rootfs/busybox")
        #expect(Paths.resolve("../rootfs", against: "/work/specs") == "/work/rootfs")
        #expect(Paths.resolve("/abs//x/./y/", against: "/work") == "/abs/x/y")
        #expect(Paths.resolve("../../../..", against: "/a") == "/")
        #expect(Paths.directory(of: "/work/specs/demo.yaml") == "/work/specs")
        #expect(Paths.directory(of: "/demo.yaml") == "/")
        #expect(Paths.stem(of: "specs/demo.yaml") == "demo")
        #expect(Paths.stem(of: "demo.spec.yml") == "demo.spec")
        #expect(Paths.stem(of: "demo") == "demo")
        #expect(Paths.stem(of: ".hidden") == ".hidden")
    }
}
