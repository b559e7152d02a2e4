import Foundation
import Synchronization
import Testing
@testable import BerthKernel

/// The network namespaces one netlink test works in.
///
/// Each is made by ``NetworkNamespace/create(label:)`` and held only by a
/// descriptor: no file names it (nothing in `ip netns`), and it vanishes, with
/// every bridge and veth in it, once the descriptor and the sockets made in it
/// are closed, including when the test fails or the test process dies.
final class NetlinkLab {
    private var namespaces: [NetworkNamespace] = []
    private let test: String

    init(_ test: String) {
        signal(SIGPIPE, SIG_IGN)
        self.test = test
    }

    deinit {
        for namespace in namespaces.reversed() { try? namespace.close() }
    }

    /// A new, empty network namespace.
    func namespace(_ role: String) throws -> NetworkNamespace {
        let namespace = try NetworkNamespace.create(label: "\(test)/\(role)")
        namespaces.append(namespace)
        return namespace
    }

    /// Closes one namespace's descriptor before the end of the test.
    func close(_ namespace: NetworkNamespace) throws {
        namespaces.removeAll { $0.descriptor == namespace.descriptor }
        try namespace.close()
    }

    /// A path that opens `namespace` again, as `/proc/PID/ns/net` would for a container.
    static func path(of namespace: NetworkNamespace) -> String {
        "/proc/\(getpid())/fd/\(namespace.descriptor.rawValue)"
    }

    /// Runs a command inside `namespace` (a child entering it with nsenter)
    /// and waits at most `seconds`; for the tests' traffic checks only.
    ///
    /// Spawned with posix_spawn and an empty signal mask: the test runner's
    /// threads block most signals, and a child started by Foundation's
    /// Process inherits that mask, so busybox ping never sees the SIGALRM of
    /// its `-W` timeout and waits forever.
    static func run(in namespace: NetworkNamespace, _ arguments: [String], seconds: Double = 15) throws -> (status: Int32, output: String) {
        let argv = ["/usr/bin/nsenter", "--net=\(path(of: namespace))", "--"] + arguments
        var pipeFDs: [Int32] = [0, 0]
        // A socket pair rather than pipe(): made close-on-exec atomically, so a
        // child another test spawns meanwhile cannot hold the write end open.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pipeFDs) == 0 else {
            throw POSIXError(.init(rawValue: errno)!)
        }
        defer { Glibc.close(pipeFDs[0]) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, environ)
        Glibc.close(pipeFDs[1])
        guard spawned == 0 else { throw POSIXError(.init(rawValue: spawned)!) }

        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(seconds)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return (-1, "timed out after \(seconds) s: \(argv.joined(separator: " "))")
            }
            usleep(10_000)
        }
        let output = FileHandle(fileDescriptor: pipeFDs[0], closeOnDealloc: false).readDataToEndOfFile()
        let exited = status & 0x7F == 0
        return (exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), String(decoding: output, as: UTF8.self))
    }

    /// A /24 of 10.250.0.0/16 for one test; the namespaces are private, so
    /// two tests picking the same one do not meet.
    static func subnet() -> UInt8 { UInt8.random(in: 1...254) }
}

/// The namespace the calling thread is in, as the kernel names it (`net:[4026531840]`).
func currentThreadNamespace() throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net")
}

/// Tells a helper thread to stop, and lets the test wait until it has.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    let finished = DispatchSemaphore(value: 0)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
