import Glibc
import SystemPackage
import Testing
@testable import BerthKernel

/// The wire format, on byte buffers: no root, no kernel.
@Suite("Netlink encoding")
struct NetlinkEncodingTests {
    @Test("IPv4 parses and prints dotted quads", arguments: [
        ("10.88.1.10", UInt32(0x0A58_010A)), ("0.0.0.0", 0), ("255.255.255.255", 0xFFFF_FFFF), ("192.168.0.1", 0xC0A8_0001),
    ])
    func ipv4RoundTrip(text: String, value: UInt32) throws {
        let address = try #require(IPv4(text))
        #expect(address.value == value)
        #expect(address.description == text)
        #expect(IPv4(bytes: address.bytes) == address)
    }

    @Test("IPv4 rejects what is not a dotted quad", arguments: [
        "", "10.0.0", "10.0.0.1.2", "256.0.0.1", "10.0.0.-1", "010.0.0.1", "10..0.1", "1 .2.3.4", "a.b.c.d", "10.0.0.1 ",
    ])
    func ipv4Rejects(text: String) {
        #expect(IPv4(text) == nil)
    }

    @Test func prefixArithmetic() throws {
        let prefix = try #require(IPv4Prefix("10.88.1.10/24"))
        #expect(prefix.address == IPv4(10, 88, 1, 10))
        #expect(prefix.length == 24)
        #expect(prefix.netmask.description == "255.255.255.0")
        #expect(prefix.network.description == "10.88.1.0/24")
        #expect(prefix.broadcast?.description == "10.88.1.255")
        #expect(prefix.contains(IPv4(10, 88, 1, 200)))
        #expect(!prefix.contains(IPv4(10, 88, 2, 1)))
        #expect(IPv4Prefix("10.0.0.1")?.length == 32)
        #expect(IPv4Prefix("10.0.0.0/31")?.broadcast == nil)
        #expect(IPv4Prefix.defaultRoute.description == "0.0.0.0/0")
        #expect(IPv4Prefix.defaultRoute.contains(IPv4(8, 8, 8, 8)))
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/24", "10.0.0.0/2 4"] {
            #expect(IPv4Prefix(bad) == nil, "\(bad)")
        }
    }

    @Test func macAddress() throws {
        let mac = try #require(MACAddress("02:42:AC:11:00:0f"))
        #expect(mac.bytes == [0x02, 0x42, 0xAC, 0x11, 0x00, 0x0F])
        #expect(mac.description == "02:42:ac:11:00:0f")
        #expect(mac.isLocalUnicast)
        #expect(MACAddress("02:42:ac:11:00") == nil)
        #expect(MACAddress("02:42:ac:11:00:0g") == nil)
        #expect(MACAddress("002:42:ac:11:00:0") == nil)
    }

    @Test("attributes are padded to 4 bytes, the header's length and sequence filled in")
    func attributeAlignment() {
        var request = NetlinkRequest(type: RTM.newLink, flags: NL.create | NL.exclusive)
        request.appendIfinfomsg(index: 7, flags: IFF.up, change: IFF.up)
        request.attribute(IFLA.ifname, string: "ab")            // 4 + 3 bytes, one byte of padding
        request.attribute(IFLA.mtu, UInt32(1500))
        request.attribute(IFLA.address, bytes: [1, 2, 3, 4, 5, 6]) // 4 + 6, two bytes of padding
        let bytes = request.encoded(sequence: 0x0102_0304, addingFlags: NL.ack)

        #expect(bytes.count == 16 + 16 + 8 + 8 + 12)
        #expect(Array(bytes[0..<16]) == [
            60, 0, 0, 0,            // nlmsg_len
            16, 0,                  // RTM_NEWLINK
            0x05, 0x06,             // REQUEST | ACK | EXCL | CREATE
            4, 3, 2, 1,             // nlmsg_seq
            0, 0, 0, 0,             // nlmsg_pid
        ])
        #expect(Array(bytes[16..<32]) == [0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
        #expect(Array(bytes[32..<40]) == [7, 0, 3, 0, 0x61, 0x62, 0, 0])
        #expect(Array(bytes[40..<48]) == [8, 0, 4, 0, 0xDC, 0x05, 0, 0])
        #expect(Array(bytes[48..<60]) == [10, 0, 1, 0, 1, 2, 3, 4, 5, 6, 0, 0])
    }

    @Test("a veth request nests LINKINFO > INFO_DATA > VETH_INFO_PEER with its own ifinfomsg")
    func vethNesting() throws {
        var request = NetlinkRequest(type: RTM.newLink)
        request.appendIfinfomsg()
        request.nest(IFLA.linkInfo) { info in
            info.attribute(IFLA.infoKind, string: "veth")
            info.nest(IFLA.infoData) { data in
                data.nest(IFLA.vethInfoPeer) { peer in
                    peer.appendIfinfomsg(flags: IFF.up, change: IFF.up)
                    peer.attribute(IFLA.ifname, string: "eth0")
                    peer.attribute(IFLA.netNSFD, UInt32(9))
                }
            }
        }
        let bytes = request.encoded(sequence: 1, addingFlags: 0)
        // peer: 4 + 16 + 12 ("eth0\0" padded) + 8 = 40; data: 44; kind: 12; linkinfo: 4 + 12 + 44 = 60
        #expect(bytes.count == 16 + 16 + 60)
        #expect(Array(bytes[32..<36]) == [60, 0, 18, 0])
        #expect(Array(bytes[36..<48]) == [9, 0, 1, 0] + Array("veth".utf8) + [0, 0, 0, 0])
        #expect(Array(bytes[48..<52]) == [44, 0, 2, 0])
        #expect(Array(bytes[52..<56]) == [40, 0, 1, 0])

        // And the decoder reads the same tree back.
        let message = try #require(try NetlinkMessage.split(bytes[...]).first)
        #expect(message.type == RTM.newLink)
        #expect(message.sequence == 1)
        let info = try #require(message.attributes(after: RTM.ifinfomsgSize).nested(IFLA.linkInfo))
        #expect(info.string(IFLA.infoKind) == "veth")
        let peer = try #require(info.nested(IFLA.infoData)?[IFLA.vethInfoPeer])
        #expect(peer.integer(at: 8, as: UInt32.self) == IFF.up)
        let peerAttributes = NetlinkAttributes(peer[(peer.startIndex + RTM.ifinfomsgSize)...])
        #expect(peerAttributes.string(IFLA.ifname) == "eth0")
        #expect(peerAttributes.uint32(IFLA.netNSFD) == 9)
    }

    @Test("a link message decodes: name, kind, master, MTU, MAC, flags, veth peer")
    func decodeLink() throws {
        // RTM_NEWLINK for ifindex 5 "vb-1" (veth, up, bridge port of 3, peer 2 in netns id 0), by hand.
        var bytes: [UInt8] = [0, 0, 0, 0, 16, 0, 2, 0, 9, 0, 0, 0, 0x2A, 0, 0, 0]
        bytes += [0, 0, 1, 0, 5, 0, 0, 0, 0x43, 0x10, 1, 0, 0, 0, 0, 0]      // ifinfomsg: UP|BROADCAST|MULTICAST|LOWER_UP
        bytes += [9, 0, 3, 0] + Array("vb-1".utf8) + [0, 0, 0, 0]            // IFLA_IFNAME
        bytes += [8, 0, 4, 0, 0xDC, 0x05, 0, 0]                              // IFLA_MTU 1500
        bytes += [10, 0, 1, 0, 0x02, 0x42, 0xAC, 0x11, 0, 2, 0, 0]           // IFLA_ADDRESS
        bytes += [8, 0, 10, 0, 3, 0, 0, 0]                                   // IFLA_MASTER 3
        bytes += [8, 0, 5, 0, 2, 0, 0, 0]                                    // IFLA_LINK 2
        bytes += [8, 0, 37, 0, 0, 0, 0, 0]                                   // IFLA_LINK_NETNSID 0
        bytes += [5, 0, 16, 0, 6, 0, 0, 0]                                   // IFLA_OPERSTATE up
        bytes += [28, 0, 0x12, 0x80]                                         // IFLA_LINKINFO | NLA_F_NESTED
        bytes += [9, 0, 1, 0] + Array("veth".utf8) + [0, 0, 0, 0]            //   IFLA_INFO_KIND
        bytes += [11, 0, 4, 0] + Array("bridge".utf8) + [0, 0]               //   IFLA_INFO_SLAVE_KIND
        bytes += [99, 0]                                                     // a truncated attribute: ignored
        bytes.storeInteger(UInt32(bytes.count), at: 0)

        let messages = try NetlinkMessage.split(bytes[...])
        #expect(messages.count == 1)
        let link = try Link(message: messages[0])
        #expect(link.index == 5)
        #expect(link.name == "vb-1")
        #expect(link.kind == "veth")
        #expect(link.portKind == "bridge")
        #expect(link.masterIndex == 3)
        #expect(link.mtu == 1500)
        #expect(link.mac?.description == "02:42:ac:11:00:02")
        #expect(link.isUp && link.hasCarrier)
        #expect(link.operState == .up)
        #expect(link.peerIndex == 2)
        #expect(link.peerNamespaceID == 0)
    }

    @Test func decodeAddressAndRoute() throws {
        var address = NetlinkRequest(type: RTM.newAddr)
        address.appendIfaddrmsg(family: addressFamilyINet, prefixLength: 24, scope: 0, index: 4)
        address.attribute(IFA.address, bytes: [10, 250, 1, 2])
        address.attribute(IFA.local, bytes: [10, 250, 1, 2])
        address.attribute(IFA.broadcast, bytes: [10, 250, 1, 255])
        address.attribute(IFA.label, string: "eth0")
        let decodedAddress = try #require(try LinkAddress(message: NetlinkMessage.split(address.encoded(sequence: 1, addingFlags: 0)[...])[0]))
        #expect(decodedAddress == LinkAddress(linkIndex: 4, prefix: IPv4Prefix("10.250.1.2/24")!,
                                              broadcast: IPv4("10.250.1.255"), label: "eth0"))

        var route = NetlinkRequest(type: RTM.newRoute)
        route.appendRtmsg(family: addressFamilyINet, destinationLength: 0, table: 254, protocol: 3, scope: 0, type: 1)
        route.attribute(RTA.table, UInt32(254))
        route.attribute(RTA.gateway, bytes: [10, 250, 1, 1])
        route.attribute(RTA.oif, Int32(4))
        let decodedRoute = try #require(try Route(message: NetlinkMessage.split(route.encoded(sequence: 1, addingFlags: 0)[...])[0]))
        #expect(decodedRoute.isDefault)
        #expect(decodedRoute.gateway == IPv4(10, 250, 1, 1))
        #expect(decodedRoute.outputIndex == 4)
        #expect(decodedRoute.table == RouteTable.main)
        #expect(decodedRoute.routeProtocol == .boot)

        var ipv6 = NetlinkRequest(type: RTM.newRoute)
        ipv6.appendRtmsg(family: 10, destinationLength: 64)
        #expect(try Route(message: NetlinkMessage.split(ipv6.encoded(sequence: 1, addingFlags: 0)[...])[0]) == nil)
    }

    @Test("a message whose length runs past the datagram is an error, not a crash")
    func malformed() {
        var bytes = NetlinkRequest(type: RTM.newLink).encoded(sequence: 1, addingFlags: 0)
        bytes.storeInteger(UInt32(64), at: 0)
        #expect(throws: NetlinkMessage.Malformed.self) { try NetlinkMessage.split(bytes[...]) }
        bytes.storeInteger(UInt32(3), at: 0)
        #expect(throws: NetlinkMessage.Malformed.self) { try NetlinkMessage.split(bytes[...]) }
    }

    @Test("NLMSG_ERROR: errno and extended-ack text, capped or not")
    func errorStatus() throws {
        let text = "Nexthop has invalid gateway"
        var tlv: [UInt8] = []
        tlv += [UInt8(4 + text.utf8.count + 1), 0, 1, 0] + Array(text.utf8) + [0]
        while tlv.count % 4 != 0 { tlv.append(0) }
        tlv += [8, 0, 2, 0, 40, 0, 0, 0]    // NLMSGERR_ATTR_OFFS, ignored

        // Capped: the request's header only.
        var capped: [UInt8] = [0, 0, 0, 0, 2, 0, 0x00, 0x03, 5, 0, 0, 0, 0, 0, 0, 0]
        capped += withUnsafeBytes(of: Int32(-ENETUNREACH)) { Array($0) }
        capped += [44, 0, 0, 0, 24, 0, 5, 6, 5, 0, 0, 0, 0, 0, 0, 0]
        capped += tlv
        capped.storeInteger(UInt32(capped.count), at: 0)
        let status = try NetlinkStatus(error: NetlinkMessage.split(capped[...])[0])
        #expect(status == NetlinkStatus(errno: ENETUNREACH, message: text))
        #expect(KernelError("add route", "default via 10.9.9.9", status).description
                == "add route(default via 10.9.9.9): Network is unreachable (Nexthop has invalid gateway)")

        // Not capped: the whole 20-byte request precedes the attributes.
        var full: [UInt8] = [0, 0, 0, 0, 2, 0, 0x00, 0x02, 5, 0, 0, 0, 0, 0, 0, 0]
        full += withUnsafeBytes(of: Int32(-EEXIST)) { Array($0) }
        full += [20, 0, 0, 0, 16, 0, 5, 6, 5, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD]
        full += tlv
        full.storeInteger(UInt32(full.count), at: 0)
        #expect(try NetlinkStatus(error: NetlinkMessage.split(full[...])[0]) == NetlinkStatus(errno: EEXIST, message: text))

        // An ack: errno 0, no text.
        var ack: [UInt8] = [36, 0, 0, 0, 2, 0, 0x00, 0x01, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        ack += [16, 0, 0, 0, 16, 0, 5, 6, 5, 0, 0, 0, 0, 0, 0, 0]
        #expect(try NetlinkStatus(error: NetlinkMessage.split(ack[...])[0]) == NetlinkStatus(errno: 0, message: nil))
    }

    @Test func errorsNameTheObject() {
        #expect(KernelError("create bridge", "bfront0", errno: .fileExists).description
                == "create bridge(bfront0): File exists")
        #expect(KernelError("delete link", "vb-gone", errno: .operationNotSupportedByDevice).description
                == "delete link(vb-gone): No such device")
    }

    @Test("interface names are checked before the kernel sees them", arguments: [
        "", "sixteen-chars-xx", "a/b", "a:b", "a b", ".", "..",
    ])
    func badInterfaceName(name: String) {
        #expect(throws: KernelError.self) { try RouteNetlink.checkInterfaceName(name, "create bridge") }
    }

    // MARK: The socket's request/answer logic, over a scripted transport

    @Test("an interrupted dump is read to its end and started again")
    func dumpRetry() throws {
        let transport = ScriptedTransport { sequence, attempt in
            var datagram = Self.message(type: RTM.newLink, flags: NL.multi, sequence: sequence &- 1, payload: [9])  // stale
            if attempt == 0 {
                datagram += Self.message(type: RTM.newLink, flags: NL.multi | NL.dumpInterrupted, sequence: sequence, payload: [1])
                return [datagram, Self.message(type: NL.done, flags: NL.multi | NL.dumpInterrupted, sequence: sequence, payload: [0, 0, 0, 0])]
            }
            datagram += Self.message(type: RTM.newLink, flags: NL.multi, sequence: sequence, payload: [2])
            datagram += Self.message(type: RTM.newLink, flags: NL.multi, sequence: sequence, payload: [3])
            return [datagram, Self.message(type: NL.done, flags: NL.multi, sequence: sequence, payload: [0, 0, 0, 0])]
        }
        let socket = NetlinkSocket(transport: transport)
        let messages = try socket.dump(NetlinkRequest(type: RTM.getLink), "dump links")
        #expect(messages.map { Array($0.payload.prefix(1)) } == [[2], [3]])
        #expect(transport.sent.count == 2)
        #expect(transport.sent.allSatisfy { $0.integer(at: 6, as: UInt16.self)! & NL.dump == NL.dump })
    }

    @Test("a dump interrupted every time gives up with a readable error")
    func dumpAlwaysInterrupted() {
        let transport = ScriptedTransport { sequence, _ in
            [Self.message(type: NL.done, flags: NL.multi | NL.dumpInterrupted, sequence: sequence, payload: [0, 0, 0, 0])]
        }
        let socket = NetlinkSocket(transport: transport)
        let error = #expect(throws: KernelError.self) { try socket.dump(NetlinkRequest(type: RTM.getRoute), "dump routes") }
        #expect(error?.errno == .interrupted)
        #expect(error?.description.hasPrefix("dump routes: Interrupted system call") == true)
        #expect(transport.sent.count == NetlinkSocket.dumpAttempts)
    }

    @Test("an error inside a dump and an error ack become KernelErrors")
    func dumpAndRequestErrors() {
        let transport = ScriptedTransport { sequence, attempt in
            let errno: Int32 = attempt == 0 ? -ENOENT : -EEXIST
            let type = attempt == 0 ? NL.done : NL.error
            return [Self.message(type: type, flags: 0, sequence: sequence,
                                 payload: withUnsafeBytes(of: errno) { Array($0) } + [UInt8](repeating: 0, count: 16))]
        }
        let socket = NetlinkSocket(transport: transport)
        #expect(throws: KernelError.self) { try socket.dump(NetlinkRequest(type: RTM.getRoute), "dump routes") }
        let error = #expect(throws: KernelError.self) {
            try socket.execute(NetlinkRequest(type: RTM.newLink), "create bridge", "bfront0")
        }
        #expect(error?.description == "create bridge(bfront0): File exists")
    }

    @Test("a datagram larger than the buffer is received whole: the buffer grows")
    func receiveGrowsBuffer() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        defer { close(fds[0]) }
        let transport = KernelNetlinkTransport(adopting: fds[1])
        let big = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        #expect(big.withUnsafeBytes { send(fds[0], $0.baseAddress, $0.count, 0) } == big.count)
        #expect(Array("next".utf8).withUnsafeBytes { send(fds[0], $0.baseAddress, $0.count, 0) } == 4)

        var buffer = [UInt8](repeating: 0, count: 4096)
        let length = try transport.receive(into: &buffer)
        #expect(length == big.count)
        #expect(buffer.count >= big.count)
        #expect(Array(buffer[0..<length]) == big)
        // The big datagram was consumed exactly once.
        #expect(try transport.receive(into: &buffer) == 4)
        #expect(Array(buffer[0..<4]) == Array("next".utf8))
    }

    static func message(type: UInt16, flags: UInt16, sequence: UInt32, payload: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16) + payload
        while bytes.count % 4 != 0 { bytes.append(0) }
        bytes.storeInteger(UInt32(16 + payload.count), at: 0)
        bytes.storeInteger(type, at: 4)
        bytes.storeInteger(flags, at: 6)
        bytes.storeInteger(sequence, at: 8)
        return bytes
    }
}

/// Answers each request with the datagrams `script(sequence, attempt)` returns.
final class ScriptedTransport: NetlinkTransport, @unchecked Sendable {
    private let script: (UInt32, Int) -> [[UInt8]]
    private(set) var sent: [[UInt8]] = []
    private var pending: [[UInt8]] = []

    init(_ script: @escaping (UInt32, Int) -> [[UInt8]]) { self.script = script }

    func send(_ bytes: [UInt8]) throws(Errno) {
        pending += script(bytes.integer(at: 8, as: UInt32.self)!, sent.count)
        sent.append(bytes)
    }

    func receive(into buffer: inout [UInt8]) throws(Errno) -> Int {
        guard !pending.isEmpty else { throw Errno.wouldBlock }
        let datagram = pending.removeFirst()
        if datagram.count > buffer.count { buffer = [UInt8](repeating: 0, count: datagram.count) }
        buffer.replaceSubrange(0..<datagram.count, with: datagram)
        return datagram.count
    }
}
