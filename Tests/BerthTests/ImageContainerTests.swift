import BerthKernel
import Foundation
import Glibc
import Testing
@testable import Berth

/// Containers from images, through the berth binary as a user runs it: the umoci image of
/// ``ImageFixtures/umociLayout()`` (three layers: a whiteout, an opaque directory, a hard link).
@Suite("Containers from images", .enabled(if: geteuid() == 0, "needs root"))
struct ImageContainerTests {
    static func spec(_ layout: String, tag: String = "app", names: [String] = ["web"], extra: String = "") -> String {
        var s = "version: 1\ncontainers:\n"
        for name in names {
            s += "  \(name):\n    image: oci:\(layout):\(tag)\n    namespaces: [uts, ipc, pid, mount]\n\(extra)"
        }
        return s
    }

    /// berth reconcile plans with what the images resolve to, as apply does: a container
    /// from an image is left alone pass after pass (its planner once knew no image and
    /// replaced it on every pass), and a pass whose inputs did not change plans nothing.
    @Test func theReconcilerLeavesAContainerFromAnImageAlone() throws {
        let box = try Sandbox("image-rc")
        defer { box.close() }
        let f = try ImageFixtures("rc")
        defer { f.close() }
        try box.write(Self.spec(try f.umociLayout(), extra: "    command: [\"sleep 3600\"]\n"))
        try box.apply()
        let pid = try #require(try box.runningPID("web"))
        let reconciler = try box.reconciler()
        for _ in 0..<3 { reconciler.pass() }
        #expect(try box.runningPID("web") == pid, "the reconciler replaced it")
        #expect((try box.restarts(of: "web") ?? 0) == 0)
        #expect(reconciler.plansSkipped == 2, "passes with the inputs of a no-op plan planned again")
    }

    @Test("a container runs on its own writable layer over the image's; the image's defaults apply")
    func runsFromImage() throws {
        let box = try Sandbox("image")
        defer { box.close() }
        let f = try ImageFixtures("run")
        defer { f.close() }
        let layout = try f.umociLayout()
        try box.write(Self.spec(layout, names: ["web", "api"], extra: "    command: [\"sleep 3600\"]\n"))
        let applied = try box.apply()
        #expect(applied.stdout.contains("container web: created"))
        // The top layer's deletion and opaque directory, the middle layer's hard link.
        #expect(try box.exec("web", "cat", "/data/new").stdout == "new\n")
        #expect(try box.exec("web", "ls", "/data").stdout == "new\n")
        #expect(try box.exec("web", "test", "-e", "/gone").status != 0)
        #expect(try box.exec("web", "cat", "/hello-link").stdout == "hello\n")
        // Image defaults: user 65534, env, working directory (exec sees them too).
        let id = try box.exec("web", "id", "-u")
        #expect(id.stdout == "65534\n", "\(id.stdout)\(id.stderr)")
        #expect(try box.exec("web", "sh", "-c", "echo $IMAGE_VAR $PWD").stdout == "image /data\n")
        // Each container writes to its own upper; nothing reaches the store's layers.
        let w = try box.exec("web", "sh", "-c", "echo mine > /tmp/w")
        #expect(w.status == 0, "\(w.stderr)")
        #expect(try box.exec("api", "test", "-e", "/tmp/w").status != 0)
        let store = ImageStore(root: box.stateDirectory + "/images")
        let image = try #require(try store.images().first)
        #expect(try store.images().count == 1)
        for dir in store.lowerDirectories(of: image) { #expect(access(dir + "/tmp/w", F_OK) != 0) }
        let upper = box.stateDirectory
        let uppers = try FileManager.default.subpathsOfDirectory(atPath: upper).filter { $0.hasSuffix("image-root/upper/tmp/w") }
        #expect(uppers.count == 1)
        // One copy of the layers for both containers.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: store.root + "/layers")) ?? []).count == 3)
        // Plan after apply: nothing to do; the record holds the manifest digest.
        let again = try box.plan("--detailed-exitcode")
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let records = try StateStore(root: box.stateDirectory).records(box.project)
        #expect(records.containers["web"]?.imageDigest == image.digest)
        let status = try #require(try box.status().first { $0["name"] as? String == "web" })
        #expect(status["imageDigest"] as? String == image.digest)
        #expect(status["image"] as? String == "oci:\(layout):app")
        #expect(status["root"] as? String == "overlay")
        // Destroy removes the container's upper; the image stays in the store.
        #expect(try box.run("destroy", "-f", box.specPath).status == 0)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: upper).filter { $0.contains("image-root") }.isEmpty)
        #expect(try store.images().count == 1)
    }

    @Test("command replaces Cmd; entrypoint replaces Entrypoint and drops Cmd; env and user from the spec win")
    func specOverridesImage() throws {
        let box = try Sandbox("override")
        defer { box.close() }
        let f = try ImageFixtures("override")
        defer { f.close() }
        let layout = try f.umociLayout()
        // The image's own entrypoint and cmd: sh -c 'echo from-image'.
        try box.write(Self.spec(layout, extra: "    restart: never\n"))
        try box.apply()
        let logs = try box.run("logs", "-p", box.project, "web")
        #expect(try eventually { (try box.run("logs", "-p", box.project, "web")).stdout.contains("from-image") }, "\(logs.stdout)\(logs.stderr)")
        // command replaces Cmd (the entrypoint sh -c stays).
        try box.write(Self.spec(layout, extra: "    restart: never\n    command: [\"echo from-spec $IMAGE_VAR $SPEC_VAR\"]\n    env: {SPEC_VAR: spec, IMAGE_VAR: overridden}\n    user: \"1000:1000\"\n"))
        let plan = try box.plan()
        #expect(plan.stdout.contains("-/+ container web"), "\(plan.stdout)")
        try box.apply()
        #expect(try eventually { (try box.run("logs", "-p", box.project, "web")).stdout.contains("from-spec overridden spec") })
        // entrypoint replaces Entrypoint and drops Cmd.
        try box.write(Self.spec(layout, extra: "    restart: never\n    entrypoint: [/bin/echo, from-entrypoint]\n"))
        try box.apply()
        #expect(try eventually { (try box.run("logs", "-p", box.project, "web")).stdout.contains("from-entrypoint\n") })
    }

    @Test("a layout whose tag now names another image: the plan shows the digests and forces a replacement")
    func newImageForcesReplacement() throws {
        let box = try Sandbox("retag")
        defer { box.close() }
        let f = try ImageFixtures("retag")
        defer { f.close() }
        let layout = try f.umociLayout()
        try box.write(Self.spec(layout, extra: "    command: [\"sleep 3600\"]\n"))
        try box.apply()
        let before = try StateStore(root: box.stateDirectory).records(box.project).containers["web"]?.imageDigest
        try ImageFixtures.sh("umoci config --image layout:app --config.env CHANGED=1", in: f.directory)
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 2)
        #expect(plan.stdout.contains("-/+ container web"), "\(plan.stdout)")
        #expect(plan.stdout.contains("image: \(try #require(before).prefix(19))… -> sha256:"), "\(plan.stdout)")
        #expect(plan.stdout.contains("forces replacement"))
        // Plan imported nothing.
        #expect(try ImageStore(root: box.stateDirectory + "/images").images().count == 1)
        try box.apply()
        #expect(try box.exec("web", "sh", "-c", "echo $CHANGED").stdout == "1\n")
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test("where overlayfs refuses the state directory as an upper, the root is a private copy, and status says so")
    func copyFallback() throws {
        let box = try Sandbox("copyroot")
        let f = try ImageFixtures("copyroot")
        // The state directory on an overlayfs: the kernel refuses an overlay upper there.
        let backing = box.directory + "/backing"
        for d in ["lower", "upper", "work"] { try FileManager.default.createDirectory(atPath: "\(backing)/\(d)", withIntermediateDirectories: true) }
        try FileManager.default.createDirectory(atPath: box.stateDirectory, withIntermediateDirectories: true)
        try ImageFixtures.sh("mount -t overlay overlay -o lowerdir=\(backing)/lower,upperdir=\(backing)/upper,workdir=\(backing)/work \(box.stateDirectory)", in: "/")
        defer {
            _ = try? box.run("destroy", "-p", box.project)
            umount2(box.stateDirectory, Int32(MNT_DETACH))
            box.close()
            f.close()
        }
        let layout = try f.pythonLayout("busybox", layers: [
            "add('bin/busybox', open('/bin/busybox', 'rb').read(), mode=0o755); add('bin/sh', type=tarfile.SYMTYPE, linkname='busybox');"
                + "add('etc/motd', b'from the image\\n'); add('tmp', type=tarfile.DIRTYPE, mode=0o1777)",
        ])
        try box.write("version: 1\ncontainers:\n  web:\n    image: oci:\(layout):latest\n    command: [/bin/busybox, sleep, \"3600\"]\n    namespaces: [uts, ipc, pid, mount]\n")
        let applied = try box.apply()
        #expect(applied.stdout.contains("private copy of the image"), "\(applied.stdout)\(applied.stderr)")
        #expect(try box.exec("web", "/bin/busybox", "cat", "/etc/motd").stdout == "from the image\n")
        #expect(try box.exec("web", "/bin/busybox", "sh", "-c", "echo mine > /tmp/w").status == 0)
        let store = ImageStore(root: box.stateDirectory + "/images")
        let image = try #require(try store.images().first)
        for dir in store.lowerDirectories(of: image) { #expect(access(dir + "/tmp/w", F_OK) != 0) }
        let status = try #require(try box.status().first)
        #expect(status["root"] as? String == "copy")
        // The copy is the container's root from now on: nothing to change.
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test("a registry reference that is not in the store is refused before anything changes")
    func missingImage() throws {
        let box = try Sandbox("missing")
        defer { box.close() }
        // pull: never, so that apply asks no registry (tests reach nothing beyond 127.0.0.1).
        try box.write("version: 1\ncontainers:\n  web:\n    image: example.com/none:1\n    pull: never\n")
        let r = try box.run("apply", "-f", box.specPath)
        #expect(r.status != 0)
        #expect(r.stderr.contains("containers.web.image: example.com/none:1") && r.stderr.contains("berth image pull"), "\(r.stderr)")
        #expect(r.stderr.contains("Nothing was changed."))
        #expect(try box.status().isEmpty)
    }
}
