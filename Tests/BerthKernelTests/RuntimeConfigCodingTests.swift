import Foundation
import Testing
@testable import BerthInit
@testable import BerthKernel

@Suite("Container runtime: the configuration across the exec")
struct RuntimeConfigCodingTests {
    static let configs: [ContainerConfig] = [
        ContainerConfig(id: "demo/web", rootfs: "/var/lib/berth/rootfs", argv: ["/bin/httpd", "-f", "-p", "80"]),
        ContainerConfig(
            id: "demo/all", rootfs: "/r", argv: ["sh", "-c", "echo \"quoted\" \\ back\tslash\nnew line é ✓ 𝄞"],
            env: ["A=1", "EMPTY=", "UNICODE=ünï"], workdir: "/work dir", uid: 4_000_000_000, gid: 7,
            hostname: "host-1", namespaces: Set(NamespaceKind.allCases),
            uidMap: [IDMap(container: 0, host: 100_000, size: 65536), IDMap(container: 65536, host: 1, size: 1)],
            gidMap: [IDMap(container: 0, host: 200_000, size: 10)],
            mounts: [.bind(source: "/src", target: "/dst", readOnly: true),
                     .tmpfs(target: "/tmp", sizeBytes: 16 << 20, readOnly: false),
                     .tmpfs(target: "/t2", sizeBytes: nil, readOnly: true)],
            readOnlyRootfs: true, capabilities: [], noNewPrivileges: false),
    ]

    @Test(arguments: configs)
    func initReadsWhatTheParentWrites(_ config: ContainerConfig) throws {
        let request = InitRequest(container: config)
        let bytes = Array(try JSONEncoder().encode(request))
        let decoded = try InitJSON.decode(InitRequest.self, from: bytes)
        #expect(decoded.container == config)
        #expect(decoded.exec == nil)
    }

    @Test func execRequestRoundTrips() throws {
        let process = ExecConfig(argv: ["ls", "-l"], env: ["PATH=/bin"], workdir: "/", uid: 1, gid: 2,
                                 capabilities: ["CAP_KILL"], noNewPrivileges: true)
        let request = InitRequest(exec: ExecRequest(process: process, namespaces: [
            JoinedNamespace(kind: .user, fd: 6), JoinedNamespace(kind: .mount, fd: 7),
        ]))
        let decoded = try InitJSON.decode(InitRequest.self, from: Array(try JSONEncoder().encode(request)))
        #expect(decoded.exec?.process == process)
        #expect(decoded.exec?.namespaces.map(\.kind) == [.user, .mount])
        #expect(decoded.exec?.namespaces.map(\.fd) == [6, 7])
    }

    @Test(arguments: ["", "{", "{\"container\":}", "[1,]", "{\"a\":1} x", "\"\\u12\""])
    func malformedJSONIsAnError(_ text: String) {
        #expect(throws: (any Error).self) { _ = try InitJSON.decode(InitRequest.self, from: Array(text.utf8)) }
    }

    @Test func wrongTypesAreErrors() {
        let text = #"{"container":{"id":1}}"#
        #expect(throws: DecodingError.self) { _ = try InitJSON.decode(InitRequest.self, from: Array(text.utf8)) }
    }

    /// Optional fields as JSONDecoder reads them (absent and null are nil, a wrong type is an
    /// error naming the field's path), and a mismatch names the value it found cheaply.
    @Test func optionalFieldsAndMismatchesReadAsJSONDecoderReadsThem() throws {
        struct Probe: Decodable, Equatable {
            var a: Int?
            var b: String?
            var c: [UInt8]?
            var d: Bool
        }
        for text in [#"{"d":true}"#, #"{"a":null,"b":null,"c":null,"d":true}"#, #"{"a":7,"b":"x","c":[1,2],"d":false}"#] {
            #expect(try InitJSON.decode(Probe.self, from: Array(text.utf8))
                    == JSONDecoder().decode(Probe.self, from: Data(text.utf8)), "\(text)")
        }
        let wrong = #"{"a":"7","d":true}"#
        let error = #expect(throws: DecodingError.self) { _ = try InitJSON.decode(Probe.self, from: Array(wrong.utf8)) }
        guard case .typeMismatch(_, let context)? = error else {
            Issue.record("not a type mismatch: \(String(describing: error))")
            return
        }
        #expect(context.codingPath.map(\.stringValue) == ["a"])
        #expect(context.debugDescription == #"found "7""#)
        let nested = #"{"d":true,"c":[1,{"x":[2]}]}"#
        let inArray = #expect(throws: DecodingError.self) { _ = try InitJSON.decode(Probe.self, from: Array(nested.utf8)) }
        guard case .typeMismatch(_, let deeper)? = inArray else {
            Issue.record("not a type mismatch: \(String(describing: inArray))")
            return
        }
        #expect(deeper.codingPath.map(\.stringValue) == ["c", "1"] && deeper.debugDescription == "found an object of 1 members")
    }

    /// berth-init writes exit.json without Foundation; berth reads it with JSONDecoder.
    @Test(arguments: [
        ExitRecord(status: .exited(0), finishedAt: 1_764_082_141.25),
        ExitRecord(status: .exited(255), finishedAt: 0),
        ExitRecord(status: .signaled(9), finishedAt: 1_764_082_141.001, oomKilled: true),
    ])
    func exitRecordBerthInitWritesIsWhatBerthReads(_ record: ExitRecord) throws {
        let decoded = try JSONDecoder().decode(ExitRecord.self, from: Data(record.json))
        #expect(decoded == record)
    }

    /// The seccomp filter crosses into berth-init as base64 without Foundation: the same
    /// text as Foundation's, read back to the same bytes; anything else is refused.
    @Test func seccompFilterBase64IsFoundationsBase64() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString(), "length \(length)")
            #expect(Base64.decode(Data(bytes).base64EncodedString()) == bytes, "length \(length)")
        }
        for bad in ["A", "AB=C", "A===", "ab\ncd", "ab$=", "AAA=AAAA"] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
        let filter = SeccompFilter(program: Array(0..<64))
        #expect(SeccompFilter(base64: filter.base64) == filter)
        #expect(SeccompFilter(base64: Base64.encode([1, 2, 3])) == nil, "not a whole number of instructions")
    }

    @Test func treesAreWrittenCompactOrPrettyAndReadByName() throws {
        let text = #"{"b":[1,{"x":"a/b","n":-2.5e3}],"a":{},"e":[],"a":true}"#
        let tree = try InitJSON.Value.parse(text)
        #expect(tree.serialized == text, "compact: members in their order, numbers and slashes as read")
        #expect(tree.pretty == """
            {
              "a" : true,
              "b" : [
                1,
                {
                  "n" : -2.5e3,
                  "x" : "a/b"
                }
              ],
              "e" : []
            }
            """)
        #expect(tree["a"].map { $0 == InitJSON.Value.bool(true) } == true, "the last of a repeated name")
        #expect(tree["b"]?.elements.count == 2 && tree["b"]?.elements.first?.intValue == 1)
        #expect(tree["b"]?.string == nil && tree["nowhere"] == nil && InitJSON.Value.string("s").string == "s")
        #expect(InitJSON.Value.array([]).pretty == "[]" && InitJSON.Value.object([]).serialized == "{}")
    }
}
