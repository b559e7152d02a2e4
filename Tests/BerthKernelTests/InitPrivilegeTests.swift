import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("berth init keeps no privilege beyond its command's", .enabled(if: geteuid() == 0, "needs root"))
struct InitPrivilegeTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    /// `Key:` of /proc/PID/status, as text.
    func status(_ pid: Int32, _ key: String) throws -> String? {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    static let cases: [(caps: [String], uid: UInt32)] = [
        (ContainerConfig.defaultCapabilities, 0),
        (ContainerConfig.defaultCapabilities, 1000),
        (["CAP_NET_BIND_SERVICE"], 0),
        ([], 1000),
    ]

    @Test(arguments: 0..<cases.count)
    func capabilitiesSeenFromTheHostAreReduced(_ index: Int) throws {
        let (caps, uid) = Self.cases[index]
        let sandbox = try ContainerSandbox("init-caps-\(index)")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sleep", "1000"])
        config.capabilities = caps
        config.uid = uid
        config.gid = uid
        let id = try sandbox.start(config, stateDir: try sandbox.stateDir())
        let bounding = String(format: "%016llx", try Capabilities.mask(of: caps))
        #expect(try status(id.pid, "CapEff") == "0000000000000000")
        // Permitted, never effective: the command's own set (uid 0 only), for its healthchecks.
        #expect(try status(id.pid, "CapPrm") == (uid == 0 ? bounding : "0000000000000000"))
        #expect(try status(id.pid, "CapInh") == "0000000000000000")
        #expect(try status(id.pid, "CapAmb") == "0000000000000000")
        #expect(try status(id.pid, "CapBnd") == bounding)
        #expect(try status(id.pid, "NoNewPrivs") == "1")
        // Real uid: the command's (to signal it), effective and saved: 0 (to write exit.json).
        #expect(try status(id.pid, "Uid")?.split(separator: "\t").prefix(3) == ["\(uid)", "0", "0"])
        // Real gid and groups: the command's, so that a healthcheck forked from init gets them.
        #expect(try status(id.pid, "Gid")?.split(separator: "\t").prefix(3) == ["\(uid)", "0", "0"])
        #expect(try status(id.pid, "Groups") == "")
        // Reduced permitted sets reset dumpable; init sets it off again (CVE-2019-5736).
        let exe = open("/proc/\(id.pid)/exe", O_RDONLY | O_CLOEXEC)
        #expect(exe >= 0)  // the host's root still may
        if exe >= 0 { close(exe) }
    }

    @Test func signalsStillReachACommandOfAnotherUser() throws {
        let sandbox = try ContainerSandbox("init-signal")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sleep", "1000"])
        config.uid = 1000
        config.gid = 1000
        config.capabilities = []
        let state = try sandbox.stateDir()
        let id = try sandbox.start(config, stateDir: state)
        #expect(try ContainerRuntime.stop(id, signal: SIGTERM, timeout: .seconds(10)) == .exited)
        #expect(ContainerRuntime.readExitRecord(stateDir: state)?.status == .signaled(SIGTERM))
    }
}
