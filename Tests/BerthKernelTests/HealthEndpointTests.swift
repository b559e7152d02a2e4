import BerthKernel
import Foundation
import Glibc
import Testing

/// Healthchecks run by the container's own berth init, through its endpoint in the state directory.
@Suite("Healthchecks through berth init's endpoint", .enabled(if: geteuid() == 0, "needs root"))
struct HealthEndpointTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    /// The `Key:` lines of a /proc/PID/status text.
    static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// The command: init's only child when nothing else runs.
    static func command(of id: ProcessIdentity) throws -> Int32 {
        let text = try String(contentsOfFile: "/proc/\(id.pid)/task/\(id.pid)/children", encoding: .utf8)
        return try #require(text.split(separator: " ").first.flatMap { Int32($0) })
    }

    static func probe(_ state: String, _ id: ProcessIdentity, _ argv: [String], timeout: Duration = .seconds(10)) throws
        -> ProbeResult
    {
        try #require(try ContainerRuntime.probe(endpoint: state, of: id, argv: argv, timeout: timeout))
    }

    @Test func aCheckReportsStatusAndTheHeadOfItsOutput() throws {
        let sandbox = try ContainerSandbox("endpoint-status")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sleep", "1000"]), stateDir: state)
        // Its OOM score is the command's (0), not init's (-999).
        #expect(try Self.probe(state, id, ["cat", "/proc/self/oom_score_adj"]).output == "0\n")
        let result = try Self.probe(state, id, ["sh", "-c", "echo checked $(hostname); echo oops >&2; exit 3"])
        #expect(result.status == .exited(3))
        #expect(result.output == "checked berth-test\noops\n")
        let long = try Self.probe(state, id, ["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"])
        #expect(long.passed && long.output.utf8.count == ContainerRuntime.probeOutputLimit)
        // A check that cannot be exec'd is an error with init's words, not a failed check.
        #expect(throws: KernelError.self) { try Self.probe(state, id, ["/bin/nosuch"]) }
        #expect(id.isAlive)
    }

    static let credentials: [(uid: UInt32, caps: [String], groups: [UInt32])] = [
        (0, ContainerConfig.defaultCapabilities, [10, 20]),
        (1000, ContainerConfig.defaultCapabilities, [30]),
        (0, ["CAP_NET_BIND_SERVICE", "CAP_KILL"], []),
    ]

    /// uid, gid, groups, capabilities, no_new_privs and seccomp as the check reads them
    /// itself, against the command's own.
    @Test(arguments: 0..<credentials.count)
    func aCheckRunsWithTheCommandsCredentials(_ index: Int) throws {
        let (uid, caps, groups) = Self.credentials[index]
        let sandbox = try ContainerSandbox("endpoint-creds-\(index)")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sleep", "1000"])
        config.uid = uid
        config.gid = uid + 1
        config.groups = groups
        config.capabilities = caps
        let state = try sandbox.stateDir()
        let id = try sandbox.start(config, stateDir: state)
        let result = try Self.probe(state, id, ["cat", "/proc/self/status"])
        #expect(result.passed)
        let check = Self.fields(result.output)
        let command = Self.fields(try String(contentsOfFile: "/proc/\(try Self.command(of: id))/status", encoding: .utf8))
        for key in ["Uid", "Gid", "Groups", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp", "Seccomp_filters"] {
            #expect(check[key] == command[key], "\(key): check \(check[key] ?? "-"), command \(command[key] ?? "-")")
        }
        #expect(check["Seccomp"] == "2")
        #expect(check["Uid"]?.split(separator: "\t").first == "\(uid)")
        // What init keeps for that is no more than its command has, and nothing effective.
        let initStatus = Self.fields(try String(contentsOfFile: "/proc/\(id.pid)/status", encoding: .utf8))
        #expect(initStatus["CapEff"] == "0000000000000000")
        #expect(initStatus["CapPrm"] == command["CapPrm"])
        #expect(initStatus["Groups"] == command["Groups"])
    }

    @Test func aHangingCheckIsKilledAtItsTimeoutWithEverythingItStarted() throws {
        let sandbox = try ContainerSandbox("endpoint-timeout")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sleep", "1000"]), stateDir: state)
        let marker = "\(UInt32.random(in: 100_000...999_999))"
        let result = try Self.probe(state, id, ["sh", "-c", "sleep \(marker) & sleep \(marker); true"],
                                    timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(poll(timeout: .seconds(5)) { HealthProbeTests.processes(["sleep", marker]).isEmpty },
                "left behind: \(HealthProbeTests.processes(["sleep", marker]))")
        #expect(id.isAlive, "the container itself must stay")
        // The endpoint still answers after a kill.
        #expect(try Self.probe(state, id, ["true"]).passed)
    }

    /// Each check waits until all have started: it passes only if they are all in flight at once.
    @Test func manyChecksAreInFlightAtOnce() throws {
        let sandbox = try ContainerSandbox("endpoint-many")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/sleep", "1000"])
        config.mounts = [.tmpfs(target: "/flight", sizeBytes: 1 << 20, readOnly: false)]
        let id = try sandbox.start(config, stateDir: state)
        let count = 24
        // Asked one after the other, awaited together in one poll, as the health monitor does.
        let requests = try (0..<count).map { i in
            let script = "touch /flight/\(i); while [ $(ls /flight | wc -l) -lt \(count) ]; do sleep 0.02; done; echo \(i)"
            return try #require(try ContainerRuntime.ask(endpoint: state, of: id, argv: ["sh", "-c", script],
                                                         timeout: .seconds(30)))
        }
        for (i, answer) in HealthRequest.answers(requests).enumerated() {
            let result = try answer.get()
            #expect(result.passed && result.output == "\(i)\n", "\(result)")
        }
    }

    @Test func aPeerThatIsNotRootIsRefused() throws {
        let sandbox = try ContainerSandbox("endpoint-peer")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sleep", "1000"]), stateDir: state)
        let socket = ContainerRuntime.healthSocketPath(stateDir: state)
        // Past the file mode (0600, the first guard) and the directories above it (the path is
        // opened as root, then connected to through /proc/self/fd as uid 1000), the peer's
        // credentials still decide.
        #expect(chmod(socket, 0o666) == 0)
        let script = """
            import os, socket, sys
            fd = os.open(sys.argv[1], os.O_PATH)
            os.setgid(1000); os.setuid(1000)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect("/proc/self/fd/%d" % fd)
            sys.stdout.write(s.recv(8192)[5:].decode())
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", script, socket]
        let pipe = Pipe()
        python.standardOutput = pipe
        try python.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)
        #expect(output == "refused: uid 1000 is not root")
        #expect(id.isAlive)
        #expect(try Self.probe(state, id, ["true"]).passed)
    }

    /// A run without the endpoint (an older berth started it): nil, and the exec relay does the check.
    @Test func aContainerWithoutTheEndpointIsCheckedThroughExec() throws {
        let sandbox = try ContainerSandbox("endpoint-fallback")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let config = sandbox.config(["/bin/sleep", "1000"])
        let id = try sandbox.start(config, stateDir: state)
        #expect(unlink(ContainerRuntime.healthSocketPath(stateDir: state)) == 0)
        #expect(try ContainerRuntime.probe(endpoint: state, of: id, argv: ["true"], timeout: .seconds(5)) == nil)
        let result = try ContainerRuntime.probe(into: id, ExecConfig(argv: ["true"], like: config),
                                                executable: ContainerSandbox.berthInit, timeout: .seconds(10))
        #expect(result.passed)
    }

    @Test func theEndpointIsGoneWithTheRun() throws {
        let sandbox = try ContainerSandbox("endpoint-gone")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sleep", "1000"]), stateDir: state)
        #expect(FileManager.default.fileExists(atPath: ContainerRuntime.healthSocketPath(stateDir: state)))
        _ = try ContainerRuntime.stop(id, signal: SIGTERM, timeout: .seconds(10))
        #expect(!FileManager.default.fileExists(atPath: ContainerRuntime.healthSocketPath(stateDir: state)))
        #expect(try ContainerRuntime.probe(endpoint: state, of: id, argv: ["true"], timeout: .seconds(5)) == nil)
    }
}
