import Foundation
import Testing
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
}
