@testable import BerthSpec
import Berth
import BerthKernel
import Foundation
import Testing

/// Records written by an older berth still read, as the spec's defaults for what they lack.
///
/// `Records/berth-462ea19/` holds a container and a network record exactly as the oldest berth
/// that wrote both (commit 462ea19) encoded them, made by compiling that commit's record and spec
/// types and loading this spec with its loader:
///
/// ```yaml
/// networks: {front: {subnet: 10.231.7.0/24}}
/// containers:
///   web: {rootfs: ./rootfs, command: [/bin/sleep, "1000"], env: {GREETING: hello}, user: "1000",
///         networks: [front], resources: {memory: 64Mi, cpus: 0.5}, restart: on-failure,
///         stopTimeout: 5s, mounts: [{type: tmpfs, target: /scratch, size: 16Mi}]}
/// ```
///
/// Its user is `{uid, gid}`, and it has none of logging, healthcheck, dependsOn, image, ports,
/// pull, security, devices, sysctls, ulimits or noNewPrivileges.
@Suite struct OldRecordTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Records/berth-462ea19")

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: fixtures.appendingPathComponent(name))
    }

    @Test func oldestContainerRecordDecodesWithTheSpecsDefaults() throws {
        let record = try ContainerRecord.decode(Array(try Self.fixture("record.json")))
        let c = record.spec
        let defaults = Container(name: "web", rootfs: "", command: [])
        #expect(c.name == "web")
        #expect(c.rootfs == "/srv/legacy/rootfs")
        #expect(c.command == ["/bin/sleep", "1000"])
        #expect(c.env == [EnvVar(name: "GREETING", value: "hello")])
        #expect(c.user == User(uid: 1000, gid: 1000))
        #expect(c.restart == .onFailure)
        #expect(c.stopTimeout.milliseconds == 5000)
        #expect(c.resources.memory?.bytes == 64 << 20)
        #expect(c.mounts == [.tmpfs(target: "/scratch", size: ByteSize(bytes: 16 << 20, text: "16Mi"), readOnly: false)])
        // What the old berth did not write is the spec's default.
        #expect(c.logging == defaults.logging)
        #expect(c.healthcheck == nil)
        #expect(c.dependsOn.isEmpty && c.ports.isEmpty && c.devices.isEmpty)
        #expect(c.sysctls.isEmpty && c.ulimits.isEmpty)
        #expect(c.image == nil && c.entrypoint == nil && c.identity == nil)
        #expect(c.pull == defaults.pull)
        #expect(c.security == defaults.security)
        #expect(c.noNewPrivileges == defaults.noNewPrivileges)
        #expect(record.process == ProcessIdentity(pid: 4242, startTime: 99))
        #expect(record.limits.memoryBytes == 64 << 20 && record.limits.cpuMillicores == 500)
        #expect(record.imageDigest == nil && record.imageRoot == nil)

        let network = try JSONDecoder().decode(NetworkRecord.self, from: try Self.fixture("front.json"))
        #expect(network.spec.subnet.description == "10.231.7.0/24")
        #expect(network.allocations == ["web": try #require(IPv4Address("10.231.7.2"))])
    }

    @Test func aRecordAsWrittenTodayReadsBackTheSame() throws {
        var c = Container(name: "api", rootfs: "", command: [], user: User(user: .name("app")),
                          image: .registry(ImageReference(domain: "example.test", repository: "app", tag: "1")), pull: .always,
                          noNewPrivileges: false)
        c.healthcheck = Healthcheck(test: .command(["/bin/true"]))
        c.dependsOn = [Dependency(name: "db", condition: .healthy, restart: true)]
        c.ulimits = [Ulimit(name: "nofile", soft: 1024, hard: 2048)]
        let record = ContainerRecord(spec: c, limits: CgroupLimits(pids: 10), imageDigest: "sha256:" + String(repeating: "a", count: 64))
        let data = try JSONEncoder().encode(record)
        #expect(try ContainerRecord.decode(Array(data)) == record)
        #expect(try JSONDecoder().decode(ContainerRecord.self, from: data) == record, "the encoder's own reader agrees")
    }

    /// A stored property without a coding key would be written by nobody and read as its
    /// default: every one of them must have its key.
    @Test func everyStoredPropertyOfAContainerHasItsKey() {
        let properties = Mirror(reflecting: Container(name: "x", rootfs: "/", command: ["/x"])).children.compactMap(\.label)
        #expect(properties == Container.CodingKeys.allCases.map(\.stringValue))
    }

    @Test func aKeyOfTheWrongTypeIsStillAnError() throws {
        let text = #"{"name": "web", "rootfs": "/r", "command": ["/x"], "noNewPrivileges": "yes"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Container.self, from: Data(text.utf8)) }
        let record = #"{"spec": \#(text), "limits": {}, "restarts": 0, "failures": 0}"#
        #expect(throws: DecodingError.self) { try ContainerRecord.decode(Array(record.utf8)) }
        #expect(throws: InitJSON.SyntaxError.self) { try ContainerRecord.decode(Array(record.utf8.dropLast())) }
    }
}

/// The old records of a running container plan as no change on the real kernel: apply the spec
/// with this berth, put the old berth's records in place of the ones it wrote (with this run's
/// paths, process, subnet and bridge), and plan.
@Suite(.enabled(if: geteuid() == 0, "needs root: a container and a bridge"))
struct OldRecordPlanTests {
    @Test func theOldestRecordsOfARunningContainerPlanNoChanges() throws {
        let box = try Sandbox("oldrec")
        defer { box.close() }
        let net = try box.subnet()
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(net.subnet)}
            containers:
              web:
                rootfs: ./rootfs
                command: ["/bin/sleep", "1000"]
                env: {GREETING: hello}
                user: "1000"
                networks: [front]
                resources: {memory: 64Mi, cpus: 0.5}
                restart: on-failure
                stopTimeout: 5s
                mounts:
                  - {type: tmpfs, target: /scratch, size: 16Mi}

            """)
        _ = try box.apply()
        let dir = "\(box.stateDirectory)/\(box.project)"
        let recordPath = "\(dir)/containers/web/record.json", networkPath = "\(dir)/networks/front.json"

        func object(_ data: Data) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        let written = try object(try Data(contentsOf: URL(fileURLWithPath: recordPath)))
        var old = try object(try OldRecordTests.fixture("record.json"))
        var oldSpec = try #require(old["spec"] as? [String: Any])
        oldSpec["rootfs"] = (written["spec"] as? [String: Any])?["rootfs"]
        old["spec"] = oldSpec
        old["process"] = written["process"]
        old["startedAt"] = written["startedAt"]
        try JSONSerialization.data(withJSONObject: old, options: [.sortedKeys]).write(to: URL(fileURLWithPath: recordPath))

        let writtenNetwork = try object(try Data(contentsOf: URL(fileURLWithPath: networkPath)))
        var oldNetwork = try object(try OldRecordTests.fixture("front.json"))
        oldNetwork["spec"] = writtenNetwork["spec"]
        oldNetwork["mac"] = writtenNetwork["mac"]
        oldNetwork["allocations"] = writtenNetwork["allocations"]
        try JSONSerialization.data(withJSONObject: oldNetwork, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: networkPath))

        let r = try box.plan()
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("No changes. Running state matches the spec."), "\(r.stdout)\(r.stderr)")
        let destroyed = try box.run("destroy", "-f", box.specPath)
        #expect(destroyed.status == 0, "\(destroyed.stdout)\(destroyed.stderr)")
    }
}
