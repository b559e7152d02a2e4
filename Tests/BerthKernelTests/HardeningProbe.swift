import BerthKernel
import Foundation
import Glibc
import Testing

/// Tests/Probes/probe.c, compiled once per test run with gcc (static: the test
/// rootfs has no C library), and a way to run it in a container and read its answers.
enum HardeningProbe {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Probes/probe.c").path

    /// The compiled probe's bytes (the file is removed once read, so that no run leaves
    /// one in /tmp), or the compiler's complaint.
    static let binary: Result<Data, SandboxError> = {
        let out = "/tmp/berth-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let gcc = Process()
        gcc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        gcc.arguments = ["-static", "-O2", "-o", out, source]
        do {
            try gcc.run()
            gcc.waitUntilExit()
        } catch {
            return .failure(SandboxError("gcc: \(error)"))
        }
        defer { unlink(out) }
        guard gcc.terminationStatus == 0 else { return .failure(SandboxError("gcc failed on \(source)")) }
        guard let bytes = FileManager.default.contents(atPath: out) else {
            return .failure(SandboxError("cannot read the compiled probe \(out)"))
        }
        return .success(bytes)
    }()

    /// Copies the probe to `/bin/probe` of the rootfs.
    static func install(into rootfs: String) throws {
        let bytes = try binary.get()
        try? FileManager.default.removeItem(atPath: rootfs + "/bin/probe")
        guard FileManager.default.createFile(atPath: rootfs + "/bin/probe", contents: bytes,
                                             attributes: [.posixPermissions: 0o755]) else {
            throw SandboxError("cannot write \(rootfs)/bin/probe")
        }
    }

    /// Runs the probes in a container made from `config` and returns NAME -> answer.
    static func run(_ sandbox: ContainerSandbox, _ config: ContainerConfig, _ probes: [String]) throws -> [String: String] {
        var config = config
        config.argv = ["/bin/probe"] + probes
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        return answers(log)
    }

    static func answers(_ log: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in log.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }
}
