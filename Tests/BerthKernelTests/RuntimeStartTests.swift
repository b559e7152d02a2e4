import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("Container runtime: start", .enabled(if: geteuid() == 0, "needs root"))
struct RuntimeStartTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test func commandRunsAsChildOfBerthInit() throws {
        let sandbox = try ContainerSandbox("child-of-init")
        defer { sandbox.cleanup() }
        let script = """
            echo "cmdline=$(tr '\\0' ' ' < /proc/1/cmdline)"
            echo "comm=$(cat /proc/1/comm)"
            echo "self=$$ ppid=$PPID"
            echo "host=$(hostname)"
            """
        let (log, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", script]))
        #expect(log.value(of: "cmdline") == "berth-init ", "\(log)")
        #expect(log.value(of: "comm") == "berth-init", "\(log)")
        #expect(log.value(of: "self") == "2 ppid=1", "\(log)")
        #expect(log.value(of: "host") == "berth-test", "\(log)")
        #expect(exit?.status == .exited(0))
    }

    static let namespaceSets: [Set<NamespaceKind>] = [
        ContainerConfig.defaultNamespaces,
        ContainerConfig.defaultNamespaces.union([.user]),
        ContainerConfig.defaultNamespaces.union([.cgroup]),
        [.mount, .pid],
        [.mount, .user, .pid],
        Set(NamespaceKind.allCases),
    ]

    @Test(arguments: namespaceSets)
    func namespacesAreNewExactlyWhereAsked(_ kinds: Set<NamespaceKind>) throws {
        let sandbox = try ContainerSandbox("ns-" + kinds.sorted().map(\.rawValue).joined(separator: "-"))
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sh", "-c", "for n in uts ipc pid mnt net user cgroup; do echo $n=$(readlink /proc/self/ns/$n); done"],
                                    namespaces: kinds)
        if kinds.contains(.user) {
            config.uidMap = testUserMap
            config.gidMap = testUserMap
        }
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        let host = try ProcFS.namespaceInodes(pid: getpid())
        for kind in NamespaceKind.allCases {
            let link = try #require(log.value(of: kind.procName), "\(log)")
            let inside = UInt64(link.drop { $0 != "[" }.dropFirst().prefix { $0 != "]" })
            if kinds.contains(kind) {
                #expect(inside != host[kind], "\(kind) should be new: \(link)")
            } else {
                #expect(inside == host[kind], "\(kind) should be the host's: \(link)")
            }
        }
    }

    @Test func rootfsIsRootAndHostFilesAreOutOfReach() throws {
        let sandbox = try ContainerSandbox("mount-table")
        defer { sandbox.cleanup() }
        let script = """
            awk '$5 == "/" { print "root=" $4 }' /proc/self/mountinfo
            cat \(sandbox.outsideMarker) && echo marker=reachable || echo marker=unreachable
            cat /etc/passwd | head -1 | sed 's/^/passwd=/'
            ls / | tr '\\n' ' ' | sed 's/^/ls=/'; echo
            """
        let (log, _) = try sandbox.run(sandbox.config(["/bin/sh", "-c", script]))
        #expect(log.value(of: "root") == sandbox.rootfs, "\(log)")
        #expect(log.value(of: "marker") == "unreachable", "\(log)")
        #expect(log.value(of: "passwd") == "root:x:0:0:root:/root:/bin/sh", "\(log)")
        #expect(log.value(of: "ls") == "bin dev etc proc root sys tmp var ", "\(log)")
    }

    /// A pids cgroup of the test's own (v1 `pids` hierarchy, or the v2 root), and the
    /// controller name as `/proc/PID/cgroup` shows it ("" on v2).
    static func testCgroupHierarchy() -> (String, String)? {
        let fm = FileManager.default
        if fm.fileExists(atPath: "/sys/fs/cgroup/pids/tasks") { return ("/sys/fs/cgroup/pids", "pids") }
        if fm.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") { return ("/sys/fs/cgroup", "") }
        return nil
    }

    @Test func cgroupNamespaceIsRootedAtTheContainersCgroup() throws {
        let (hierarchy, controller) = try #require(Self.testCgroupHierarchy(), "no pids cgroup hierarchy")
        let sandbox = try ContainerSandbox("cgroupns")
        defer { sandbox.cleanup() }
        let cgroup = hierarchy + "/berth-rt-test-cgroupns-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try #require(mkdir(cgroup, 0o755) == 0)
        defer {
            // The container's processes leave the cgroup when they exit.
            _ = poll(timeout: .seconds(10)) { rmdir(cgroup) == 0 || errno == ENOENT }
        }
        let state = try sandbox.stateDir()
        let config = sandbox.config(["/bin/sh", "-c", "echo ready=1; grep -E '^[0-9]+:\(controller):' /proc/self/cgroup | cut -d: -f3 | sed 's/^/inside=/'; exec sleep 1000"],
                                    namespaces: ContainerConfig.defaultNamespaces.union([.cgroup]))
        let id = try ContainerRuntime.start(config, stateDir: state, executable: ContainerSandbox.berthInit) { pid in
            try "\(pid)".write(toFile: cgroup + "/cgroup.procs", atomically: false, encoding: .utf8)
        }
        defer { _ = try? ContainerRuntime.stop(id, signal: SIGKILL, timeout: .seconds(5)) }
        #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("inside=") })
        // Inside, the container's cgroup is the root; from the host it is where prepare put it.
        #expect(sandbox.log(state).value(of: "inside") == "/", "\(sandbox.log(state))")
        let host = try String(contentsOfFile: "/proc/\(id.pid)/cgroup", encoding: .utf8)
        #expect(host.contains(":\(controller):/" + URL(fileURLWithPath: cgroup).lastPathComponent + "\n"), "\(host)")
    }

    @Test func userNamespaceMapsRootToTheGivenRange() throws {
        let sandbox = try ContainerSandbox("userns-map")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sh", "-c", "echo uid_map=$(awk '{ print $1, $2, $3 }' /proc/self/uid_map); echo gid_map=$(awk '{ print $1, $2, $3 }' /proc/self/gid_map); echo id=$(id -u):$(id -g)"],
                                    namespaces: ContainerConfig.defaultNamespaces.union([.user]))
        config.uidMap = testUserMap
        config.gidMap = testUserMap
        let state = try sandbox.stateDir()
        let id = try sandbox.start(config, stateDir: state)
        try sandbox.waitForExit(id)
        let log = sandbox.log(state)
        #expect(log.value(of: "uid_map") == "0 100000 65536", "\(log)")
        #expect(log.value(of: "gid_map") == "0 100000 65536", "\(log)")
        #expect(log.value(of: "id") == "0:0", "\(log)")
        // init recorded the exit as the container's root.
        #expect(ContainerRuntime.readExitRecord(stateDir: state)?.status == .exited(0))
    }

    static let capabilityVariants: [(add: [String], drop: [String])] = [
        ([], []),
        (["CAP_NET_ADMIN", "CAP_SYS_TIME"], []),
        ([], ["CAP_MKNOD", "CAP_NET_RAW", "CAP_KILL"]),
        (["CAP_SYS_ADMIN"], ["CAP_CHOWN"]),
    ]

    @Test(arguments: 0..<capabilityVariants.count)
    func capabilitiesAreExactlyTheConfiguredSet(_ variant: Int) throws {
        let (add, drop) = Self.capabilityVariants[variant]
        let sandbox = try ContainerSandbox("caps-\(variant)")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status | tr -d '\\t' | tr ':' '='"])
        config.capabilities = ContainerConfig.defaultCapabilities.filter { !drop.contains($0) } + add
        let (log, _) = try sandbox.run(config)
        let expected = String(format: "%016llx", try Capabilities.mask(of: config.capabilities))
        #expect(log.value(of: "CapEff") == expected, "\(log)")
        #expect(log.value(of: "CapPrm") == expected, "\(log)")
        #expect(log.value(of: "CapBnd") == expected, "\(log)")
        #expect(log.value(of: "CapInh") == "0000000000000000", "\(log)")
        #expect(log.value(of: "CapAmb") == "0000000000000000", "\(log)")
    }

    @Test func dockerDefaultCapabilitiesMask() throws {
        // The mask Docker's default set shows as CapEff in a container.
        #expect(try Capabilities.mask(of: ContainerConfig.defaultCapabilities) == 0xa80425fb)
    }

    /// Docker's masked paths; the ones this kernel has must be masked inside.
    static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]

    @Test func maskedPathsAreMasked() throws {
        let sandbox = try ContainerSandbox("masked")
        defer { sandbox.cleanup() }
        let script = Self.maskedPaths.map { path in
            // A file is /dev/null (char 1:3, empty); a directory is an empty read-only tmpfs.
            """
            if [ -d \(path) ]; then echo "\(path)=dir:$(ls -A \(path) | wc -l):$(awk '$5 == "\(path)" { print $8 }' /proc/self/mountinfo)"
            elif [ -e \(path) ]; then echo "\(path)=file:$(stat -c '%t:%T' \(path)):$(wc -c < \(path))"
            else echo "\(path)=absent"; fi
            """
        }.joined(separator: "\n")
        let (log, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", script]))
        #expect(exit?.status == .exited(0), "\(log)")
        var checked = 0
        for path in Self.maskedPaths {
            var st = stat()
            guard stat(path, &st) == 0 else {
                #expect(log.value(of: path) == "absent", "\(log)")
                continue
            }
            checked += 1
            let expected = st.st_mode & S_IFMT == S_IFDIR ? "dir:0:tmpfs" : "file:1:3:0"
            #expect(log.value(of: path) == expected, "\(path): \(log)")
        }
        #expect(checked >= 3, "too few masked paths exist on this host to test")
    }

    @Test func hardening() throws {
        let sandbox = try ContainerSandbox("hardening")
        defer { sandbox.cleanup() }
        // The shell's fds are listed first, before it makes any of its own (pipes, saved fds).
        let script = """
            echo fds-begin; ls /proc/$$/fd; echo fds-end
            echo sysfs_ro=$(awk '$5 == "/sys" { print $6 }' /proc/self/mountinfo | cut -d, -f1)
            echo procsys_ro=$(awk '$5 == "/proc/sys" { print $6 }' /proc/self/mountinfo | cut -d, -f1)
            (echo other > /proc/sys/kernel/hostname) 2>/dev/null && echo procsys=writable || echo procsys=refused
            (echo b > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=writable || echo sysrq=refused
            readlink /proc/1/exe >/dev/null 2>&1 && echo exe_link=readable || echo exe_link=refused
            cat /proc/1/exe >/dev/null 2>&1 && echo exe=readable || echo exe=refused
            ok=refused; for fd in /proc/1/fd/*; do readlink $fd >/dev/null 2>&1 && ok=readable; ls $fd/ >/dev/null 2>&1 && ok=readable; done
            echo init_fds=$ok
            cat /proc/1/environ >/dev/null 2>&1 && echo init_environ=readable || echo init_environ=refused
            echo nnp=$(grep NoNewPrivs /proc/self/status | tr -d ' \t' | cut -d: -f2)
            echo dev=$(ls /dev)
            echo null=$(stat -c '%t:%T' /dev/null)
            echo devpts=$(awk '$5 == "/dev/pts" { print $8 }' /proc/self/mountinfo)
            echo hostname=$(hostname)
            """
        let (log, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", script]))
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "sysfs_ro") == "ro", "\(log)")
        #expect(log.value(of: "procsys_ro") == "ro", "\(log)")
        #expect(log.value(of: "procsys") == "refused", "\(log)")
        #expect(log.value(of: "sysrq") == "refused", "\(log)")
        #expect(log.value(of: "exe_link") == "refused", "\(log)")
        #expect(log.value(of: "exe") == "refused", "\(log)")
        #expect(log.value(of: "init_fds") == "refused", "\(log)")
        #expect(log.value(of: "init_environ") == "refused", "\(log)")
        let fds = log.split(separator: "\n").drop { $0 != "fds-begin" }.dropFirst().prefix { $0 != "fds-end" }
        #expect(fds == ["0", "1", "2"], "\(log)")
        #expect(log.value(of: "nnp") == "1", "\(log)")
        #expect(log.value(of: "dev") == "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero", "\(log)")
        #expect(log.value(of: "null") == "1:3", "\(log)")
        #expect(log.value(of: "devpts") == "devpts", "\(log)")
        #expect(log.value(of: "hostname") == "berth-test", "\(log)")
    }

    /// CVE-2019-5736: hold /proc/PID/exe of the runtime, wait for it to exit, reopen
    /// it for writing. berth init runs from a read-only view of the `berth-init` binary: EROFS.
    @Test func initBinaryCannotBeReopenedForWriting() throws {
        let sandbox = try ContainerSandbox("exe-readonly")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sleep", "1000"]), stateDir: state)
        // The host's root may read it (the container may not, see `hardening`).
        let held = open("/proc/\(id.pid)/exe", O_RDONLY | O_CLOEXEC)
        try #require(held >= 0)
        defer { close(held) }
        // It is the berth-init on disk (the same inode), not a copy of it, nor the big berth.
        var exe = stat(), onDisk = stat()
        #expect(fstat(held, &exe) == 0 && stat(ContainerSandbox.berthInit, &onDisk) == 0)
        #expect(exe.st_ino == onDisk.st_ino && exe.st_dev == onDisk.st_dev)
        // What the fd reaches sits on a read-only mount...
        var fs = statvfs()
        #expect(fstatvfs(held, &fs) == 0 && fs.f_flag & UInt(ST_RDONLY) != 0)
        #expect(try ContainerRuntime.stop(id, signal: SIGKILL, timeout: .seconds(5)) == .exited)
        // ...so it cannot be reopened for writing: EROFS (or ETXTBSY while another
        // test's berth init still runs the same binary).
        let reopened = open("/proc/self/fd/\(held)", O_WRONLY | O_CLOEXEC)
        let err = errno
        if reopened >= 0 { close(reopened) }
        #expect(reopened < 0 && (err == EROFS || err == ETXTBSY), "reopened for writing: \(reopened), errno \(err)")
    }

    /// Root never runs an init found relative to where the caller stands (InitExecutable
    /// falls back to the bare name when it cannot resolve berth's own path).
    @Test func aRelativeInitPathIsRefusedBeforeAnythingRuns() throws {
        let sandbox = try ContainerSandbox("exe-relative")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        #expect {
            try ContainerRuntime.start(sandbox.config(["/bin/sleep", "1000"]), stateDir: state, executable: InitExecutable.fileName)
        } throws: { error in
            "\(error)" == "open(berth-init): not an absolute path"
        }
        // Nothing ran: no log, no exit record in the state directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: state).isEmpty)
    }

    @Test func userNamespaceDevicesAndSysStillWork() throws {
        let sandbox = try ContainerSandbox("userns-dev")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sh", "-c", """
            echo null=$(stat -c '%t:%T' /dev/null); echo x > /dev/null && echo write_null=ok
            echo zero=$(head -c 4 /dev/zero | wc -c)
            echo sysfs_ro=$(awk '$5 == "/sys" { print $6 }' /proc/self/mountinfo | cut -d, -f1)
            echo keys=$(wc -c < /proc/keys)
            readlink /proc/1/exe >/dev/null 2>&1 && echo exe_link=readable || echo exe_link=refused
            """], namespaces: [.mount, .pid, .uts, .ipc, .user])
        config.uidMap = testUserMap
        config.gidMap = testUserMap
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "null") == "1:3", "\(log)")
        #expect(log.value(of: "write_null") == "ok", "\(log)")
        #expect(log.value(of: "zero") == "4", "\(log)")
        #expect(log.value(of: "sysfs_ro") == "ro", "\(log)")
        #expect(log.value(of: "keys") == "0", "\(log)")
        #expect(log.value(of: "exe_link") == "refused", "\(log)")
    }

    @Test func userNamespaceContainerGetsMountPointsItCannotCreate() throws {
        let sandbox = try ContainerSandbox("userns-mountpoints")
        defer { sandbox.cleanup() }
        let file = sandbox.base + "/hosts"
        try "127.0.0.1 localhost\n".write(toFile: file, atomically: false, encoding: .utf8)
        // Not in the rootfs, which belongs to the host's root: the container's root may not create them.
        var config = sandbox.config(["/bin/sh", "-c", "echo pwd=$(pwd); echo hosts=$(cat /etc/new/hosts); touch /scratch/x && echo scratch=ok"],
                                    namespaces: ContainerConfig.defaultNamespaces.union([.user]))
        config.uidMap = testUserMap
        config.gidMap = testUserMap
        config.workdir = "/new/work"
        config.mounts = [.bind(source: file, target: "/etc/new/hosts", readOnly: true),
                         .tmpfs(target: "/scratch", sizeBytes: nil, readOnly: false)]
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "pwd") == "/new/work", "\(log)")
        #expect(log.value(of: "hosts") == "127.0.0.1 localhost", "\(log)")
        #expect(log.value(of: "scratch") == "ok", "\(log)")
    }

    @Test func environmentWorkdirAndUserAreApplied() throws {
        let sandbox = try ContainerSandbox("env-workdir-user")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["sh", "-c", "echo foo=$FOO; echo pwd=$(pwd); echo id=$(id -u):$(id -g); echo groups=$(id -G); grep CapEff /proc/self/status | tr -d '\\t' | tr ':' '='"])
        config.env = ["PATH=/bin", "FOO=bar baz"]
        config.workdir = "/work/dir"
        config.uid = 1000
        config.gid = 2000
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "foo") == "bar baz", "\(log)")
        #expect(log.value(of: "pwd") == "/work/dir", "\(log)")
        #expect(log.value(of: "id") == "1000:2000", "\(log)")
        #expect(log.value(of: "groups") == "2000", "\(log)")
        #expect(log.value(of: "CapEff") == "0000000000000000", "\(log)")
    }

    @Test func readOnlyRootfsAndSpecMounts() throws {
        let sandbox = try ContainerSandbox("mounts")
        defer { sandbox.cleanup() }
        let data = sandbox.base + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try "from the host\n".write(toFile: data + "/file", atomically: false, encoding: .utf8)
        let rw = sandbox.base + "/rw"
        try FileManager.default.createDirectory(atPath: rw, withIntermediateDirectories: true)
        var config = sandbox.config(["/bin/sh", "-c", """
            touch /x 2>/dev/null && echo root=writable || echo root=readonly
            echo data=$(cat /data/file)
            touch /data/new 2>/dev/null && echo data_write=ok || echo data_write=refused
            echo hi > /rw/out && echo rw_write=ok
            touch /scratch/f && echo scratch_write=ok
            echo scratch=$(awk '$5 == "/scratch" { print $8 " " $10 }' /proc/self/mountinfo)
            touch /frozen/f 2>/dev/null && echo frozen_write=ok || echo frozen_write=refused
            echo frozen=$(awk '$5 == "/frozen" { print $6 }' /proc/self/mountinfo | cut -d, -f1)
            """])
        config.readOnlyRootfs = true
        config.mounts = [
            .bind(source: data, target: "/data", readOnly: true),
            .bind(source: rw, target: "/rw", readOnly: false),
            .tmpfs(target: "/scratch", sizeBytes: 1 << 20, readOnly: false),
            .tmpfs(target: "/frozen", sizeBytes: nil, readOnly: true),
        ]
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "root") == "readonly", "\(log)")
        #expect(log.value(of: "data") == "from the host", "\(log)")
        #expect(log.value(of: "data_write") == "refused", "\(log)")
        #expect(log.value(of: "rw_write") == "ok", "\(log)")
        #expect(try String(contentsOfFile: rw + "/out", encoding: .utf8) == "hi\n")
        #expect(log.value(of: "scratch_write") == "ok", "\(log)")
        #expect(log.value(of: "scratch")?.hasPrefix("tmpfs rw,") == true, "\(log)")
        #expect(log.value(of: "scratch")?.contains("size=1024k") == true, "\(log)")
        #expect(log.value(of: "frozen_write") == "refused", "\(log)")
        #expect(log.value(of: "frozen") == "ro", "\(log)")
    }
}
