import Glibc

/// A socket of the host bound to a port: a TCP listener or a bound UDP socket, read from
/// /proc/net/{tcp,udp,tcp6,udp6} of the caller's network namespace, with the process
/// that holds it (found through /proc/PID/fd) where /proc tells.
public struct HostListener: Sendable, Equatable, CustomStringConvertible {
    public enum Proto: String, Sendable { case tcp, udp }
    public var proto: Proto
    /// nil for every address (0.0.0.0 or ::).
    public var address: IPv4?
    public var port: UInt16
    public var inode: UInt64
    public var pid: Int32?
    /// The process's name (/proc/PID/comm).
    public var command: String?

    public var description: String {
        let owner = pid.map { " (\(command ?? "pid") pid \($0))" } ?? ""
        return "\(address?.description ?? "*"):\(port)/\(proto.rawValue)\(owner)"
    }

    /// The host's sockets on `port` that a DNAT rule for `address` (nil: every address) would
    /// take traffic from, each with its process.
    public static func find(_ proto: Proto, port: UInt16, address: IPv4?) -> [HostListener] {
        var found: [HostListener] = []
        for file in ["/proc/net/\(proto.rawValue)", "/proc/net/\(proto.rawValue)6"] {
            guard let text = try? ProcFS.readText(file) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ")
                guard f.count > 9, let listener = parse(local: f[1], state: f[3], inode: f[9], proto: proto),
                      listener.port == port else { continue }
                if let a = address, let b = listener.address, a != b { continue }
                found.append(listener)
            }
        }
        guard !found.isEmpty else { return [] }
        let owners = owners(of: Set(found.map(\.inode)))
        return found.map { l in
            var l = l
            if let pid = owners[l.inode] {
                l.pid = pid
                l.command = (try? ProcFS.readText("/proc/\(pid)/comm"))?.trimmingSpaces()
            }
            return l
        }
    }

    /// One line's local address (`0100007F:1F90`, or 32 hex digits for IPv6), state and inode.
    static func parse(local: Substring, state: Substring, inode: Substring, proto: Proto) -> HostListener? {
        // TCP: only listeners (0A); UDP: any socket bound to the port.
        if proto == .tcp, state != "0A" { return nil }
        let parts = local.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16), let inode = UInt64(inode) else { return nil }
        let hex = parts[0]
        var address: IPv4?
        if hex.count == 8 {
            // The kernel prints the address as a host-order number of network-order bytes.
            guard let raw = UInt32(hex, radix: 16) else { return nil }
            address = raw == 0 ? nil : IPv4(UInt32(bigEndian: raw))
        } else if hex.count == 32 {
            if hex.allSatisfy({ $0 == "0" }) {
                address = nil
            } else if hex.hasPrefix("0000000000000000FFFF0000"), let raw = UInt32(hex.suffix(8), radix: 16) {
                address = IPv4(UInt32(bigEndian: raw))
            } else {
                return nil  // an IPv6 address: not in the way of an IPv4 rule
            }
        } else {
            return nil
        }
        return HostListener(proto: proto, address: address, port: port, inode: inode)
    }

    /// Which process holds each socket inode (the first one found).
    static func owners(of inodes: Set<UInt64>) -> [UInt64: Int32] {
        var out: [UInt64: Int32] = [:]
        guard let proc = opendir("/proc") else { return out }
        defer { closedir(proc) }
        while let entry = readdir(proc), out.count < inodes.count {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard let pid = Int32(name), let fds = opendir("/proc/\(pid)/fd") else { continue }
            defer { closedir(fds) }
            var link = [CChar](repeating: 0, count: 64)
            while let fd = readdir(fds) {
                let fdName = withUnsafePointer(to: fd.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                let n = readlink("/proc/\(pid)/fd/\(fdName)", &link, link.count - 1)
                guard n > 9 else { continue }
                let target = String(decoding: link[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard target.hasPrefix("socket:["), let inode = UInt64(target.dropFirst(8).dropLast()),
                      inodes.contains(inode), out[inode] == nil else { continue }
                out[inode] = pid
            }
        }
        return out
    }
}
