// CBerth for MSG_DONTWAIT: its headers include <sys/socket.h>, and in a whole-module (release)
// build the importer then finds the constant only through CBerth ("cannot find 'MSG_DONTWAIT'").
import CBerth
import Glibc
import SystemPackage

/// ARP on one link, through an AF_PACKET socket: who has an address (RFC 5227 probes,
/// which change no neighbour's cache), and announcements (gratuitous ARP) that make the
/// neighbours learn an address's MAC.
///
/// The socket is made in the calling thread's network namespace: run it inside
/// ``NetworkNamespace/perform(_:)`` to speak from a container's interface.
public enum ARP {
    static let etherTypeARP: UInt16 = 0x0806
    static let broadcastMAC: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]

    /// Which of `targets` some machine on the link of `interface` answers for: sends RFC 5227
    /// probes (sender address 0.0.0.0, so that no neighbour's cache changes) for every
    /// target each `interval` until `timeout` passes or all have answered. Returns the MAC
    /// that answered for each target that had an answer (a reply, or a probe of its own
    /// for it, RFC 5227 2.1.1). Frames from `ownMAC` are not answers.
    public static func whoHas(_ targets: Set<IPv4>, interface: Int32, ownMAC: MACAddress,
                              timeout: Duration = .seconds(1), interval: Duration = .milliseconds(200)) throws -> [IPv4: MACAddress] {
        guard !targets.isEmpty else { return [:] }
        let what = "ARP probe for " + targets.sorted().map(\.description).joined(separator: ", ")
        let fd = try open(interface: interface, what)
        defer { closeDetached(fd) }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var nextSend = clock.now
        var answered: [IPv4: MACAddress] = [:]
        var buffer = [UInt8](repeating: 0, count: 128)
        while clock.now < deadline, answered.count < targets.count {
            if clock.now >= nextSend {
                for target in targets where answered[target] == nil {
                    try send(fd, packet(op: 1, senderMAC: ownMAC.bytes, sender: .any, targetMAC: [0, 0, 0, 0, 0, 0], target: target),
                             interface: interface, what)
                }
                nextSend = clock.now + interval
            }
            let wait = min(deadline, nextSend) - clock.now
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, wait.wholeMilliseconds))
            let ready = poll(&poller, 1, ms)
            if ready < 0 {
                if errno == EINTR { continue }
                throw KernelError("poll", what, errno: Errno(rawValue: errno))
            }
            guard ready > 0 else { continue }
            while true {
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard n >= 28 else { break }
                let senderMAC = Array(buffer[8..<14])
                let sender = IPv4(buffer[14], buffer[15], buffer[16], buffer[17])
                let wanted = IPv4(buffer[24], buffer[25], buffer[26], buffer[27])
                let op = UInt16(buffer[6]) << 8 | UInt16(buffer[7])
                guard senderMAC != ownMAC.bytes else { continue }
                if op == 2, targets.contains(sender) {
                    answered[sender] = MACAddress(bytes: senderMAC)
                } else if op == 1, sender == .any, targets.contains(wanted) {
                    answered[wanted] = MACAddress(bytes: senderMAC)
                }
            }
        }
        return answered
    }

    /// Announces that `address` is at `mac` on the link of `interface`: an ARP request with
    /// the address as sender and target, broadcast (RFC 5227 section 3).
    public static func announce(_ address: IPv4, mac: MACAddress, interface: Int32, count: Int = 2) throws {
        let fd = try open(interface: interface, "announce \(address)")
        defer { closeDetached(fd) }
        let frame = packet(op: 1, senderMAC: mac.bytes, sender: address, targetMAC: [0, 0, 0, 0, 0, 0], target: address)
        for _ in 0..<count {
            try send(fd, frame, interface: interface, "announce \(address)")
        }
    }

    static func packet(op: UInt16, senderMAC: [UInt8], sender: IPv4, targetMAC: [UInt8], target: IPv4) -> [UInt8] {
        // htype Ethernet, ptype IPv4, hlen 6, plen 4, then the operation and the four addresses.
        [0, 1, 0x08, 0x00, 6, 4, UInt8(op >> 8), UInt8(op & 0xff)] + senderMAC + sender.bytes + targetMAC + target.bytes
    }

    /// `struct sockaddr_ll` (linux/if_packet.h), built by hand: Glibc's module does not export it.
    static func linkAddress(interface: Int32, destination: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt16(AF_PACKET)) { out += $0 }
        withUnsafeBytes(of: etherTypeARP.bigEndian) { out += $0 }
        withUnsafeBytes(of: interface) { out += $0 }
        out += [0, 1]                 // sll_hatype ARPHRD_ETHER (host order, ignored on send)
        out += [0]                    // sll_pkttype
        out += [UInt8(destination.count)]
        out += destination + [UInt8](repeating: 0, count: 8 - destination.count)
        return out
    }

    static func open(interface: Int32, _ what: String) throws -> Int32 {
        // Protocol 0 here, ARP in the bind: a socket made with a protocol is hooked to every
        // device at once, and binding it to one unhooks it first, which waits for an RCU grace
        // period (synchronize_net, 6-15 ms seen with strace -T); unhooked, the bind is immediate.
        let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw KernelError("socket(AF_PACKET)", what, errno: Errno(rawValue: errno)) }
        let address = linkAddress(interface: interface, destination: [])
        let rc = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw KernelError("bind(AF_PACKET, ifindex \(interface))", what, errno: Errno(rawValue: e))
        }
        return fd
    }

    /// close(2) of a packet socket waits for an RCU grace period (the kernel's packet_release
    /// calls synchronize_net whatever the socket did: 7-15 ms seen with strace -T, most of a
    /// LAN attach); nothing waits for the socket's end, so it ends on a detached thread.
    static func closeDetached(_ fd: Int32) {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let started = pthread_create(&thread, &attr, { argument in
            close(Int32(Int(bitPattern: argument)))
            return nil
        }, UnsafeMutableRawPointer(bitPattern: Int(fd)))
        if started != 0 { close(fd) }
    }

    static func send(_ fd: Int32, _ frame: [UInt8], interface: Int32, _ what: String) throws {
        let address = linkAddress(interface: interface, destination: broadcastMAC)
        let n = frame.withUnsafeBytes { f in
            address.withUnsafeBytes { a in
                sendto(fd, f.baseAddress, f.count, 0, a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
        }
        guard n == frame.count else { throw KernelError("sendto(AF_PACKET)", what, errno: Errno(rawValue: errno)) }
    }
}
