import BerthKernel
import CBerth
import Foundation
import Testing
@testable import Berth

/// Named volumes as a user meets them, on the real kernel.
@Suite(.enabled(if: geteuid() == 0, "needs root: creates cgroups, namespaces and mounts"))
struct VolumeTests {
    static func spec(command: String, name: String = "app", volume: String = "data", extra: String = "") -> String {
        """
        version: 1
        volumes:
          \(volume): {}
        containers:
          \(name):
            rootfs: ./rootfs
            command: [/bin/sh, -c, "\(command)"]
            stopTimeout: 1s
            mounts:
              - {volume: \(volume), target: /var/lib/app}
        \(extra)
        """
    }

    func dataDirectory(_ box: Sandbox, _ volume: String = "data") -> String {
        "\(box.stateDirectory)/\(box.project)/volumes/\(volume)/data"
    }

    @Test func aVolumeOutlivesDestroyAndANewContainerSeesTheData() throws {
        let box = try Sandbox("vol-survive")
        defer { box.close() }
        try box.write(Self.spec(command: "echo kept > /var/lib/app/note; exec sleep 1000"))
        let plan = try box.plan()
        #expect(plan.stdout.contains("+ volume data"), "\(plan.stdout)")
        #expect(plan.stdout.contains("Plan: 2 to add"), "\(plan.stdout)")
        try box.apply()
        #expect(try box.plan("--detailed-exitcode").status == 0, "the volume exists: no change")
        let note = dataDirectory(box) + "/note"
        #expect(eventually { (try? String(contentsOfFile: note, encoding: .utf8)) == "kept\n" })

        let destroyed = try box.run("destroy", "-p", box.project)
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        #expect(destroyed.stdout.contains("Kept volume data"), "\(destroyed.stdout)")
        #expect(try String(contentsOfFile: note, encoding: .utf8) == "kept\n", "destroy keeps volumes")

        // Another container of the project, after the first is gone, reads what it wrote.
        try box.write(Self.spec(command: "cat /var/lib/app/note > /var/lib/app/seen; exec sleep 1000", name: "reader"))
        #expect(!(try box.plan().stdout.contains("+ volume")), "the volume is still there")
        try box.apply()
        #expect(eventually { (try? String(contentsOfFile: dataDirectory(box) + "/seen", encoding: .utf8)) == "kept\n" })

        let gone = try box.run("destroy", "-p", box.project, "--volumes")
        #expect(gone.status == 0, "\(gone.stderr)")
        #expect(gone.stdout.contains("volume data: removed"), "\(gone.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "\(box.stateDirectory)/\(box.project)"), "nothing of the project is left")
    }

    @Test func aVolumeInUseCannotBeRemoved() throws {
        let box = try Sandbox("vol-inuse")
        defer { box.close() }
        try box.write(Self.spec(command: "exec sleep 1000"))
        try box.apply()
        let refused = try box.run("volume", "rm", "\(box.project)/data")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("volume \(box.project)/data is in use by container app"), "\(refused.stderr)")
        #expect(FileManager.default.fileExists(atPath: dataDirectory(box)))
        let pruned = try box.run("volume", "prune", "-p", box.project)
        #expect(pruned.stdout.contains("Freed 0 in 0 volumes."), "\(pruned.stdout)\(pruned.stderr)")
        #expect(FileManager.default.fileExists(atPath: dataDirectory(box)))

        let listed = try box.run("volume", "ls", "-p", box.project, "--output", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])
        let rows = try #require(doc["volumes"] as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["name"] as? String == "data")
        #expect(rows.first?["usedBy"] as? [String] == ["app"])
        #expect(rows.first?["path"] as? String == dataDirectory(box))

        // Once its container is gone (the spec no longer has it), rm removes it.
        try box.write("version: 1\ncontainers:\n  other: {rootfs: ./rootfs, command: [/bin/sleep, \"1000\"], stopTimeout: 1s}\n")
        try box.apply()
        let removed = try box.run("volume", "rm", "data", "-p", box.project)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dataDirectory(box)))
        #expect(try box.run("volume", "rm", "\(box.project)/data").stderr.contains("no volume data in project \(box.project)"))
    }

    @Test func pruneRemovesOnlyVolumesNothingMounts() throws {
        let box = try Sandbox("vol-prune")
        defer { box.close() }
        // Two volumes: data (app's) and kept (keeper's).
        try box.write("""
            version: 1
            volumes: {data: {}, kept: {}}
            containers:
              app:
                rootfs: ./rootfs
                command: [/bin/sh, -c, "head -c 100000 /dev/zero > /var/lib/app/blob; exec sleep 1000"]
                stopTimeout: 1s
                mounts: [{volume: data, target: /var/lib/app}]
              keeper:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                mounts: [{volume: kept, target: /kept}]
            """)
        try box.apply()
        #expect(eventually { ((try? FileManager.default.attributesOfItem(atPath: dataDirectory(box) + "/blob"))?[.size] as? Int) == 100_000 })
        // app leaves the spec: its volume stays, unused; keeper's is in use.
        try box.write("""
            version: 1
            volumes: {kept: {}}
            containers:
              keeper:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                mounts: [{volume: kept, target: /kept}]
            """)
        try box.apply()
        let listed = try box.run("volume", "ls", "-p", box.project)
        let lines = listed.stdout.split(separator: "\n")
        let rows = lines.map { $0.split(separator: " ").map(String.init) }
        #expect(rows.first == ["PROJECT", "NAME", "SIZE", "USED", "BY", "PATH"], "\(listed.stdout)")
        #expect(rows.contains { $0.count == 5 && $0[1] == "data" && $0[3] == "-" }, "data is used by nobody: \(listed.stdout)")
        #expect(rows.contains { $0.count == 5 && $0[1] == "kept" && $0[3] == "keeper" }, "\(listed.stdout)")
        let pruned = try box.run("volume", "prune", "-p", box.project)
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.contains("removed volume \(box.project)/data ("), "\(pruned.stdout)")
        #expect(pruned.stdout.contains("in 1 volume."), "\(pruned.stdout)")
        #expect(!FileManager.default.fileExists(atPath: dataDirectory(box)))
        #expect(FileManager.default.fileExists(atPath: dataDirectory(box, "kept")), "a mounted volume is never pruned")
    }

    @Test func aContainerInAUserNamespaceOwnsItsNewEmptyVolume() throws {
        let box = try Sandbox("vol-userns")
        defer { box.close() }
        try box.write("""
            version: 1
            volumes: {data: {}}
            containers:
              boxed:
                rootfs: ./rootfs
                command: [/bin/sh, -c, "echo mine > /data/note; exec sleep 1000"]
                stopTimeout: 1s
                namespaces: [uts, ipc, pid, mount, user]
                userns:
                  uidMap: [{container: 0, host: 200000, size: 65536}]
                  gidMap: [{container: 0, host: 200000, size: 65536}]
                mounts: [{volume: data, target: /data}]
            """)
        try box.apply()
        let note = dataDirectory(box) + "/note"
        #expect(eventually { (try? String(contentsOfFile: note, encoding: .utf8)) == "mine\n" }, "the container's root could write")
        var st = stat()
        #expect(stat(note, &st) == 0 && st.st_uid == 200_000 && st.st_gid == 200_000)
    }

    @Test func anEmptyVolumeIsSeededFromTheRootAtItsTarget() throws {
        let box = try Sandbox("vol-seed")
        defer { box.close() }
        let content = box.rootfs + "/var/lib/app"
        try FileManager.default.createDirectory(atPath: content + "/sub", withIntermediateDirectories: true)
        try "seeded\n".write(toFile: content + "/sub/file", atomically: true, encoding: .utf8)
        #expect(chown(content + "/sub/file", 70, 71) == 0)
        #expect(chmod(content + "/sub/file", 0o640) == 0)
        #expect(chown(content, 70, 70) == 0)
        #expect(chmod(content, 0o750) == 0)
        #expect(setxattr(content + "/sub/file", "user.origin", "image", 5, 0) == 0 || errno == ENOTSUP)
        try FileManager.default.createSymbolicLink(atPath: content + "/link", withDestinationPath: "/etc/passwd")
        try box.write(Self.spec(command: "exec sleep 1000"))
        try box.apply()

        let data = dataDirectory(box)
        var st = stat()
        #expect(stat(data, &st) == 0 && st.st_uid == 70 && st.st_gid == 70 && st.st_mode & 0o7777 == 0o750,
                "the volume takes the target's owner and mode")
        #expect(try String(contentsOfFile: data + "/sub/file", encoding: .utf8) == "seeded\n")
        #expect(stat(data + "/sub/file", &st) == 0 && st.st_uid == 70 && st.st_gid == 71 && st.st_mode & 0o7777 == 0o640)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: data + "/link") == "/etc/passwd",
                "a link is copied as a link, never followed")
        var value = [UInt8](repeating: 0, count: 16)
        let n = getxattr(data + "/sub/file", "user.origin", &value, value.count)
        if n >= 0 { #expect(String(decoding: value[0..<n], as: UTF8.self) == "image") }
        // The container sees the seeded content in the volume.
        let seen = try box.exec("app", "/bin/cat", "/var/lib/app/sub/file")
        #expect(seen.stdout == "seeded\n", "\(seen.stderr)")

        // A volume that has data is never seeded again, whatever the root holds.
        try "changed\n".write(toFile: content + "/sub/file", atomically: true, encoding: .utf8)
        try box.write(Self.spec(command: "exec sleep 999"))
        try box.apply()
        #expect(try String(contentsOfFile: data + "/sub/file", encoding: .utf8) == "seeded\n")
    }

    @Test func replacingAVolumeMountForcesReplacement() throws {
        let box = try Sandbox("vol-replace")
        defer { box.close() }
        try box.write(Self.spec(command: "exec sleep 1000"))
        try box.apply()
        try box.write("""
            version: 1
            volumes: {data: {}}
            containers:
              app:
                rootfs: ./rootfs
                command: [/bin/sh, -c, "exec sleep 1000"]
                stopTimeout: 1s
                mounts: [{volume: data, target: /var/lib/app, readOnly: true}]
            """)
        let plan = try box.plan()
        #expect(plan.stdout.contains("-/+ container app"), "\(plan.stdout)")
        #expect(plan.stdout.contains("mounts: [volume:data:/var/lib/app] -> [volume:data:/var/lib/app:ro]"), "\(plan.stdout)")
        try box.apply()
        let write = try box.exec("app", "/bin/sh", "-c", "echo x > /var/lib/app/y")
        #expect(write.status != 0, "the volume is mounted read-only")
    }
}

/// Seeding through layers, as an image's overlayfs shows them.
@Suite(.enabled(if: geteuid() == 0, "whiteouts (mknod) and trusted.* xattrs need root"))
struct LayeredCopyTests {
    @Test func whiteoutsAndOpaqueDirectoriesHideWhatIsBelow() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("berth-layers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let top = base + "/top", low = base + "/low", out = base + "/out"
        let fm = FileManager.default
        for dir in [top + "/data/opaque", low + "/data/opaque", low + "/data/kept", out] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try "low\n".write(toFile: low + "/data/deleted", atomically: true, encoding: .utf8)
        try "low\n".write(toFile: low + "/data/shadowed", atomically: true, encoding: .utf8)
        try "low\n".write(toFile: low + "/data/kept/file", atomically: true, encoding: .utf8)
        try "low\n".write(toFile: low + "/data/opaque/hidden", atomically: true, encoding: .utf8)
        try "top\n".write(toFile: top + "/data/shadowed", atomically: true, encoding: .utf8)
        try "top\n".write(toFile: top + "/data/opaque/visible", atomically: true, encoding: .utf8)
        #expect(mknod(top + "/data/deleted", S_IFCHR | 0o600, 0) == 0)
        #expect(setxattr(top + "/data/opaque", "trusted.overlay.opaque", "y", 1, 0) == 0)

        let report = try LayeredCopy.copy("/data", of: [top, low], into: out)
        let names = Set(fm.subpaths(atPath: out) ?? [])
        #expect(names == ["shadowed", "kept", "kept/file", "opaque", "opaque/visible"], "\(names)")
        #expect(try String(contentsOfFile: out + "/shadowed", encoding: .utf8) == "top\n")
        #expect(report.copied == 5)
        var value = [UInt8](repeating: 0, count: 4)
        #expect(getxattr(out + "/opaque", "trusted.overlay.opaque", &value, 4) < 0, "overlayfs' own xattrs stay behind")

        // What overlayfs itself shows agrees.
        let merged = base + "/merged", upper = base + "/upper", work = base + "/work"
        for dir in [merged, upper, work] { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let options = "lowerdir=\(top):\(low),upperdir=\(upper),workdir=\(work)"
        if mount("overlay", merged, "overlay", 0, options) == 0 {
            defer { umount2(merged, Int32(MNT_DETACH)) }
            #expect(Set(fm.subpaths(atPath: merged + "/data") ?? []) == names)
        }
    }

    @Test func aLinkedTargetStaysInsideTheRoot() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("berth-layers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let root = base + "/root", out = base + "/out"
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "mine\n".write(toFile: root + "/etc/hostname", atomically: true, encoding: .utf8)
        // On the host this would be the host's /etc; inside the root it is the root's.
        try FileManager.default.createSymbolicLink(atPath: root + "/data", withDestinationPath: "/etc")
        _ = try LayeredCopy.copy("/data", of: [root], into: out)
        #expect(FileManager.default.subpaths(atPath: out) == ["hostname"])
    }
}
