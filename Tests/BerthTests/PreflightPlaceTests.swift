import BerthSpec
import Foundation
import Testing

/// Errors that only the machine shows (preflight) point at their spec field like validation
/// errors, and a collision with another berth project names that project.
@Suite(.enabled(if: geteuid() == 0, "needs root: apply, a bridge"))
struct PreflightPlaceTests {
    @Test func missingRootfsCommandAndBindSourceAreAtTheirFields() throws {
        let box = try Sandbox("preplace")
        defer { box.close() }
        try box.write("""
            version: 1
            containers:
              app:
                rootfs: ./missing
                command: [/bin/sleep, "1"]
              tool:
                rootfs: ./rootfs
                command: [/bin/nothing-here]
                mounts:
                  - {type: bind, source: ./no-such-dir, target: /data}

            """)
        let r = try box.run("apply", "-f", box.specPath)
        #expect(r.status == 1)
        let errors = r.stderr.split(separator: "\n").filter { $0.contains(": error: ") }.map(String.init)
        #expect(errors == [
            "\(box.specPath):4:13: error: containers.app.rootfs: \(box.directory)/missing is not a directory",
            "\(box.specPath):8:5: error: containers.tool.command: /bin/nothing-here is not an executable file in \(box.rootfs)",
            "\(box.specPath):10:9: error: containers.tool.mounts[0]: bind source \(box.directory)/no-such-dir does not exist",
        ], "\(r.stderr)")
        // The spec's line is quoted under its error, as validation does.
        #expect(r.stderr.contains(" 4 |     rootfs: ./missing\n"), "\(r.stderr)")
        #expect(r.stderr.hasSuffix("Nothing was changed.\n"), "\(r.stderr)")
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
    }

    @Test func aSubnetOfAnotherProjectNamesThatProject() throws {
        let box = try Sandbox("preplace-n")
        defer { box.close() }
        let net = try box.subnet()
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(net.subnet)}
            containers:
              web:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                networks: [front]

            """)
        _ = try box.apply()
        // A second project in the same state directory wants the same subnet.
        let other = "nb" + box.project.dropFirst(2)
        let otherSpec = "\(box.directory)/other.yaml"
        try """
            version: 1
            project: \(other)
            networks:
              back: {subnet: \(net.subnet)}
            containers:
              solo:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                networks: [back]

            """.write(toFile: otherSpec, atomically: true, encoding: .utf8)
        defer { _ = try? box.run("destroy", "-p", other) }
        let r = try box.run("apply", "-f", otherSpec)
        #expect(r.status == 1)
        let bridge = Network.defaultBridgeName(project: box.project, network: "front")
        let errors = r.stderr.split(separator: "\n").filter { $0.contains(": error: ") }.map(String.init)
        #expect(errors == [
            "\(otherSpec):4:18: error: networks.back.subnet: \(net.subnet) overlaps network front of berth project "
                + "\(box.project), subnet \(net.subnet) (dev \(bridge))",
        ], "\(r.stderr)")
        #expect(!(try box.cgroups.exists("berth/\(other)")))
    }
}
