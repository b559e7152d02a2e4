import BerthKernel
import Foundation
import Testing
@testable import Berth

/// `user:` names resolved through the container's own /etc/passwd and /etc/group, on the real kernel.
@Suite(.enabled(if: geteuid() == 0, "needs root: creates cgroups and namespaces"))
struct UserTests {
    static let passwd = """
        root:x:0:0:root:/root:/bin/sh
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        postgres:x:70:70:PostgreSQL:/var/lib/postgresql:/bin/sh
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

        """
    static let group = """
        root:x:0:
        daemon:x:1:
        users:x:100:postgres,nobody
        audio:x:29: nobody
        postgres:x:70:
        redis:x:6379:
        nogroup:x:65534:

        """

    static func spec(user: String) -> String {
        """
        version: 1
        containers:
          app:
            rootfs: ./rootfs
            command: [/bin/sleep, "1000"]
            stopTimeout: 1s
            user: \(user)
        """
    }

    static func sandbox(_ tag: String) throws -> Sandbox {
        let box = try Sandbox(tag)
        try passwd.write(toFile: box.rootfs + "/etc/passwd", atomically: true, encoding: .utf8)
        try group.write(toFile: box.rootfs + "/etc/group", atomically: true, encoding: .utf8)
        return box
    }

    /// Uid, Gid and Groups as the kernel shows them in /proc/PID/status (real ids, then the groups).
    static func credentials(_ pid: Int32) throws -> (uid: String, gid: String, groups: String) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> String {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return line.dropFirst(name.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ")
        }
        return (field("Uid"), field("Gid"), field("Groups"))
    }

    /// The container's command (the child of berth init).
    static func commandPID(_ box: Sandbox) throws -> Int32 {
        let initPID = try #require(try box.pid(of: "app"))
        var found: Int32?
        _ = eventually {
            let children = (try? String(contentsOfFile: "/proc/\(initPID)/task/\(initPID)/children", encoding: .utf8)) ?? ""
            found = children.split(separator: " ").first.flatMap { Int32($0) }
            return found != nil
        }
        return try #require(found)
    }

    @Test func nobodyRunsAsNobodyWithItsGroups() throws {
        let box = try Self.sandbox("user-nobody")
        defer { box.close() }
        try box.write(Self.spec(user: "nobody"))
        let plan = try box.plan()
        #expect(plan.status == 0, "\(plan.stderr)")
        try box.apply()
        let pid = try Self.commandPID(box)
        let seen = try Self.credentials(pid)
        #expect(seen.uid == "65534 65534 65534 65534")
        #expect(seen.gid == "65534 65534 65534 65534")
        #expect(seen.groups == "29 100")
        // berth exec runs as the same user, with the same groups.
        let id = try box.exec("app", "/bin/id")
        #expect(id.status == 0, "\(id.stderr)")
        #expect(id.stdout.contains("uid=65534(nobody) gid=65534(nogroup)"), "\(id.stdout)")
        #expect(id.stdout.contains("groups=29(audio),100(users)"), "\(id.stdout)")
    }

    @Test func userAndGroupNamesAndNumbersMix() throws {
        let box = try Self.sandbox("user-mix")
        defer { box.close() }
        try box.write(Self.spec(user: "\"postgres:redis\""))
        try box.apply()
        var seen = try Self.credentials(try Self.commandPID(box))
        #expect(seen.uid.hasPrefix("70 "))
        #expect(seen.gid.hasPrefix("6379 "))
        #expect(seen.groups == "100")
        // A uid that /etc/passwd does not know: gid = uid, no supplementary groups; the
        // change of user forces a replacement, and the plan says what it resolved to.
        try box.write(Self.spec(user: "4242"))
        let plan = try box.plan()
        #expect(plan.stdout.contains("user: postgres:redis (uid=70 gid=6379 groups=100) -> 4242 (uid=4242 gid=4242)"), "\(plan.stdout)")
        #expect(plan.stdout.contains("-/+ container app"), "\(plan.stdout)")
        try box.apply()
        seen = try Self.credentials(try Self.commandPID(box))
        #expect(seen.uid.hasPrefix("4242 "))
        #expect(seen.gid.hasPrefix("4242 "))
        #expect(seen.groups == "")
        // The same ids written differently are no change.
        try box.write(Self.spec(user: "\"4242:4242\""))
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func unknownNamesAreErrorsAtTheUserLine() throws {
        let box = try Self.sandbox("user-missing")
        defer { box.close() }
        try box.write(Self.spec(user: "\"ghost:nosuchgroup\""))
        #expect(try box.run("validate", "-f", box.specPath).status == 0, "validation cannot know the root's users")
        for command in ["plan", "apply"] {
            let r = try box.run(command, "-f", box.specPath)
            #expect(r.status == 1)
            #expect(r.stderr.contains("\(box.project).yaml:7:11: error: containers.app.user: no user \"ghost\" in \(box.rootfs)/etc/passwd"), "\(r.stderr)")
            #expect(r.stderr.contains(" 7 |     user: \"ghost:nosuchgroup\""), "\(r.stderr)")
        }
        #expect(try box.status().isEmpty, "apply changed nothing")
        try box.write(Self.spec(user: "\"postgres:nosuchgroup\""))
        let r = try box.plan()
        #expect(r.stderr.contains("7:11: error: containers.app.user: no group \"nosuchgroup\" in \(box.rootfs)/etc/group"), "\(r.stderr)")
    }

    @Test func aSymlinkedPasswdNeverReadsTheHosts() throws {
        let box = try Sandbox("user-hostile")
        defer { box.close() }
        // Links that on the host would reach the host's files (which have root) resolve in the root.
        try "app:x:1000:1000::/:/bin/sh\n".write(toFile: box.rootfs + "/etc/passwd.real", atomically: true, encoding: .utf8)
        try "staff:x:50:app\n".write(toFile: box.rootfs + "/etc/group.real", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: box.rootfs + "/etc/passwd", withDestinationPath: "/etc/passwd.real")
        try FileManager.default.createSymbolicLink(atPath: box.rootfs + "/etc/group",
                                                   withDestinationPath: "../../../../../../../etc/group.real")
        try box.write(Self.spec(user: "root"))
        let r = try box.plan()
        #expect(r.status == 1)
        #expect(r.stderr.contains("no user \"root\" in \(box.rootfs)/etc/passwd"), "\(r.stderr)")
        #expect(try UserResolver.resolve(User(user: .name("app")), in: LayeredRoot(directory: box.rootfs), root: box.rootfs)
                == Identity(uid: 1000, gid: 1000, groups: [50]))
        // A link to itself (on the host: the host's file) is an error, not the host's passwd.
        try FileManager.default.removeItem(atPath: box.rootfs + "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: box.rootfs + "/etc/passwd", withDestinationPath: "/etc/passwd")
        let loop = try box.plan()
        #expect(loop.stderr.contains("containers.app.user: cannot read the container's /etc/passwd"), "\(loop.stderr)")
        #expect(loop.stderr.contains("Too many levels of symbolic links"), "\(loop.stderr)")
    }
}

/// The resolver alone, on files in layers (as an image has them): no root needed for reading.
@Suite struct UserResolverTests {
    func layers(_ files: [[String: String]]) throws -> (LayeredRoot, String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("berth-users-\(UUID().uuidString)").path
        var dirs: [String] = []
        for (i, layer) in files.enumerated() {
            let dir = "\(base)/\(i)"
            try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
            for (path, text) in layer { try text.write(toFile: dir + path, atomically: true, encoding: .utf8) }
            dirs.append(dir)
        }
        return (LayeredRoot(layers: dirs), base)
    }

    @Test func theTopLayerWins() throws {
        let (root, base) = try layers([
            ["/etc/passwd": "app:x:1000:1000::/:/bin/sh\n"],
            ["/etc/passwd": "app:x:1:1::/:/bin/sh\nold:x:2:2::/:/bin/sh\n", "/etc/group": "staff:x:50:app\n"],
        ])
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(try UserResolver.resolve(User(user: .name("app")), in: root, root: base) == Identity(uid: 1000, gid: 1000, groups: [50]))
        #expect(throws: UserResolver.Failure.noSuchUser("old", root: base)) {
            try UserResolver.resolve(User(user: .name("old")), in: root, root: base)
        }
        #expect(try UserResolver.resolve(User(uid: 5, gid: 6), in: root, root: base) == Identity(uid: 5, gid: 6))
    }

    @Test(.enabled(if: geteuid() == 0, "mknod of a whiteout needs CAP_MKNOD"))
    func aWhiteoutDeletesTheFile() throws {
        let (root, base) = try layers([[:], ["/etc/group": "staff:x:50:app\n", "/etc/passwd": "app:x:7:7::/:/bin/sh\n"]])
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(mknod(base + "/0/etc/group", S_IFCHR | 0o600, 0) == 0)
        #expect(try root.contents(of: "/etc/group") == nil)
        #expect(try UserResolver.resolve(User(user: .name("app")), in: root, root: base) == Identity(uid: 7, gid: 7))
    }
}
