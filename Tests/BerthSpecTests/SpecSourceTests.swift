import Testing
@testable import BerthSpec

/// Errors found after validation point at their field: the places a loaded spec finds.
@Suite struct SpecSourceTests {
    static let text = """
        version: 1
        networks:
          front: {subnet: 10.88.1.0/24}
        containers:
          web:
            rootfs: ./rootfs
            command: [/bin/sleep, "1000"]
            mounts:
              - {type: tmpfs, target: /scratch}
              - {type: bind, source: ./data, target: /data}
            sysctls:
              net.ipv4.ip_forward: "1"
            networks: [front]

        """

    func places(_ paths: String...) throws -> [String] {
        let spec = try SpecLoader.load(text: Self.text, fileName: "demo.yaml", baseDirectory: "/srv").get()
        let found = spec.source.positions(of: paths)
        return paths.map { found[$0]?.description ?? "-" }
    }

    @Test func aScalarIsFoundAtItsValueACollectionAtItsKey() throws {
        #expect(try places("containers.web.rootfs", "networks.front.subnet", "containers.web.command")
            == ["demo.yaml:6:13: containers.web.rootfs", "demo.yaml:3:19: networks.front.subnet",
                "demo.yaml:7:5: containers.web.command"])
    }

    @Test func listItemsAndKeysWithDots() throws {
        #expect(try places("containers.web.mounts[1]", "containers.web.sysctls.net.ipv4.ip_forward")
            == ["demo.yaml:10:9: containers.web.mounts[1]", "demo.yaml:12:28: containers.web.sysctls.net.ipv4.ip_forward"])
    }

    /// A default berth filled in has no line of its own: its nearest written ancestor's.
    @Test func aFieldNotWrittenIsAtItsNearestAncestor() throws {
        #expect(try places("containers.web.workdir", "containers.web.mounts[7]", "ports")
            == ["demo.yaml:5:3: containers.web.workdir", "demo.yaml:8:5: containers.web.mounts[7]", "demo.yaml:0:0: ports"])
    }

    @Test func aSpecMadeInCodeHasNoPlaces() {
        let spec = Spec(project: "demo", containers: [])
        #expect(spec.source.positions(of: ["containers.web"])["containers.web"]?.location == .file)
    }
}
