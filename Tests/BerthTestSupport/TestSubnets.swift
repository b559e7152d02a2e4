import BerthKernel
import Foundation
import Glibc

/// /24 subnets for tests that make bridges on the host, allocated host-wide so that
/// suites of several people running at once can never pick the same one.
///
/// The leases live in one file, `/run/berth-test-subnets` (`<index> <pid>` per line),
/// changed only under an flock of it. A lease of a process that is gone is free again,
/// so a test run killed halfway leaks nothing for long. A subnet that overlaps an
/// address or route already on the host (someone's real network) is never handed out.
public final class TestSubnet: @unchecked Sendable {
    /// The /24, e.g. `10.200.7.0/24`.
    public let subnet: String
    /// Its first three octets, e.g. `10.200.7`, for addresses in it.
    public let prefix: String
    let index: Int
    private var released = false

    init(index: Int) {
        self.index = index
        prefix = TestSubnets.prefix(index)
        subnet = prefix + ".0/24"
    }

    deinit { release() }

    /// Gives the lease back (also done when the process ends).
    public func release() {
        guard !released else { return }
        released = true
        try? TestSubnets.withLeases { leases in leases.removeAll { $0.index == index && $0.pid == getpid() } }
    }
}

public enum TestSubnets {
    /// The lease file; /run is a tmpfs, so leases do not outlive a reboot.
    public static let path = "/run/berth-test-subnets"
    /// 10.200.0.0/13: 2048 /24s.
    static let base = (10, 200)
    static let count = 2048

    /// The first three octets of the `index`th /24.
    static func prefix(_ index: Int) -> String { "\(base.0).\(base.1 + index / 256).\(index % 256)" }

    struct Lease: Equatable {
        var index: Int
        var pid: Int32
    }

    /// A /24 no other live process holds and the host does not use.
    public static func allocate() throws -> TestSubnet {
        let used = hostPrefixes()
        let index = try withLeases { leases -> Int in
            leases.removeAll { kill($0.pid, 0) != 0 && errno == ESRCH }
            let taken = Set(leases.map(\.index))
            // Start at a random place: fewer runs in a row reuse the same subnet.
            let start = Int.random(in: 0..<count)
            for offset in 0..<count {
                let i = (start + offset) % count
                guard !taken.contains(i), let candidate = IPv4Prefix("\(prefix(i)).0/24"),
                      !used.contains(where: { overlaps($0, candidate) }) else { continue }
                leases.append(Lease(index: i, pid: getpid()))
                return i
            }
            throw POSIXError(.EADDRNOTAVAIL)
        }
        return TestSubnet(index: index)
    }

    /// Runs `body` on the leases with the file locked, and writes back what it leaves.
    static func withLeases<T>(_ body: (inout [Lease]) throws -> T) throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        var text = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            guard n > 0 else { break }
            text.append(contentsOf: buffer[..<n])
            offset += off_t(n)
        }
        var leases = String(decoding: text, as: UTF8.self).split(separator: "\n").compactMap { line -> Lease? in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let i = Int(parts[0]), let pid = Int32(parts[1]) else { return nil }
            return Lease(index: i, pid: pid)
        }
        let result = try body(&leases)
        let out = Array(leases.map { "\($0.index) \($0.pid)\n" }.joined().utf8)
        guard ftruncate(fd, 0) == 0,
              out.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == out.count else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return result
    }

    /// Every IPv4 prefix on the host's links and in its main routing table.
    static func hostPrefixes() -> [IPv4Prefix] {
        guard let host = try? RouteNetlink() else { return [] }
        let addresses = ((try? host.addresses()) ?? []).map { $0.prefix.network }
        let routes = ((try? host.routes()) ?? []).filter { !$0.isDefault }.map(\.destination)
        return addresses + routes
    }

    static func overlaps(_ a: IPv4Prefix, _ b: IPv4Prefix) -> Bool {
        a.network.contains(b.address) || b.network.contains(a.address)
    }
}
