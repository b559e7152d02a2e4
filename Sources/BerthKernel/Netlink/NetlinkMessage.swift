/// Rounds up to netlink's 4-byte alignment (NLMSG_ALIGN, NLA_ALIGN).
@inline(__always)
func netlinkAlign(_ n: Int) -> Int { (n + 3) & ~3 }

/// One netlink request being built: the 16-byte `nlmsghdr`, a fixed family
/// header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`, ...) and attributes.
///
/// Integers are written in host byte order, as netlink expects; addresses are
/// written as the bytes the caller gives (network order for IPv4). Every
/// attribute and nest is padded to 4 bytes. The length and sequence number of
/// the header are filled in when the socket sends it.
public struct NetlinkRequest: Sendable {
    /// The encoded message so far.
    public private(set) var bytes: [UInt8]

    /// Starts a message of `type` (e.g. RTM_NEWLINK = 16) with `flags`
    /// (NLM_F_REQUEST is added; NLM_F_ACK or NLM_F_DUMP by the socket).
    public init(type: UInt16, flags: UInt16 = 0) {
        bytes = []
        bytes.reserveCapacity(128)
        append(UInt32(0))                        // nlmsg_len, set on send
        append(type)
        append(flags | NL.request)
        append(UInt32(0))                        // nlmsg_seq, set on send
        append(UInt32(0))                        // nlmsg_pid: the kernel
    }

    /// The message type from the header.
    public var type: UInt16 { UInt16(bytes[4]) | UInt16(bytes[5]) << 8 }

    /// Appends an integer in host byte order, unpadded (for family headers).
    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// Appends raw bytes, unpadded.
    public mutating func append(bytes more: some Sequence<UInt8>) {
        bytes.append(contentsOf: more)
    }

    /// Appends a `struct ifinfomsg`.
    public mutating func appendIfinfomsg(family: UInt8 = 0, index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        append(family)
        append(UInt8(0))
        append(UInt16(0))                        // ifi_type
        append(index)
        append(flags)
        append(change)
    }

    /// Appends a `struct ifaddrmsg`.
    public mutating func appendIfaddrmsg(family: UInt8, prefixLength: UInt8 = 0, flags: UInt8 = 0, scope: UInt8 = 0, index: Int32 = 0) {
        append(family)
        append(prefixLength)
        append(flags)
        append(scope)
        append(UInt32(bitPattern: index))
    }

    /// Appends a `struct rtmsg`.
    public mutating func appendRtmsg(family: UInt8, destinationLength: UInt8 = 0, table: UInt8 = 0,
                                     protocol proto: UInt8 = 0, scope: UInt8 = 0, type: UInt8 = 0) {
        append(family)
        append(destinationLength)
        append(UInt8(0))                         // rtm_src_len
        append(UInt8(0))                         // rtm_tos
        append(table)
        append(proto)
        append(scope)
        append(type)
        append(UInt32(0))                        // rtm_flags
    }

    private mutating func pad() {
        while bytes.count & 3 != 0 { bytes.append(0) }
    }

    /// Appends an attribute whose payload is `payload`, padded to 4 bytes.
    public mutating func attribute(_ type: UInt16, bytes payload: some Collection<UInt8>) {
        pad()
        append(UInt16(NL.attributeHeaderSize + payload.count))
        append(type)
        bytes.append(contentsOf: payload)
        pad()
    }

    /// Appends an integer attribute in host byte order.
    public mutating func attribute<T: FixedWidthInteger>(_ type: UInt16, _ value: T) {
        pad()
        append(UInt16(NL.attributeHeaderSize + MemoryLayout<T>.size))
        append(type)
        append(value)
        pad()
    }

    /// Appends a NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND).
    public mutating func attribute(_ type: UInt16, string: String) {
        var payload = Array(string.utf8)
        payload.append(0)
        attribute(type, bytes: payload)
    }

    /// Appends a nested attribute; `body` appends its members. The nest's
    /// length covers everything `body` wrote.
    public mutating func nest(_ type: UInt16, _ body: (inout NetlinkRequest) -> Void) {
        pad()
        let start = bytes.count
        append(UInt16(0))
        append(type)
        body(&self)
        pad()
        let length = UInt16(bytes.count - start)
        bytes[start] = UInt8(truncatingIfNeeded: length)
        bytes[start + 1] = UInt8(truncatingIfNeeded: length >> 8)
    }

    /// The bytes to send: padded, with `nlmsg_len`, the extra `flags` and `sequence` filled in.
    func encoded(sequence: UInt32, addingFlags extra: UInt16) -> [UInt8] {
        var out = bytes
        while out.count & 3 != 0 { out.append(0) }
        out.storeInteger(UInt32(out.count), at: 0)
        let flags = UInt16(out[6]) | UInt16(out[7]) << 8 | extra
        out.storeInteger(flags, at: 6)
        out.storeInteger(sequence, at: 8)
        return out
    }
}

extension Array where Element == UInt8 {
    mutating func storeInteger<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: offset, as: T.self) }
    }
}

extension Collection where Element == UInt8, Index == Int {
    /// Reads a host-order integer at `offset` from the collection's start, or nil past the end.
    func integer<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, count >= offset + size else { return nil }
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for i in 0..<size { raw[i] = self[startIndex + offset + i] }
        }
        return value
    }
}

/// One message received from the kernel: the header fields and the payload
/// after the 16-byte `nlmsghdr`.
public struct NetlinkMessage: Sendable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// The bytes after the header (the family header, then attributes).
    public var payload: ArraySlice<UInt8>

    /// Splits one datagram into its messages.
    ///
    /// - Throws: `NetlinkMessage.Malformed` when a length runs past the datagram.
    public static func split(_ datagram: ArraySlice<UInt8>) throws(Malformed) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while datagram.count - offset >= NL.headerSize {
            let length = Int(datagram.integer(at: offset, as: UInt32.self)!)
            guard length >= NL.headerSize, offset + length <= datagram.count else {
                throw Malformed(reason: "message length \(length) at offset \(offset) of a \(datagram.count)-byte datagram")
            }
            let base = datagram.startIndex + offset
            messages.append(NetlinkMessage(
                type: datagram.integer(at: offset + 4)!,
                flags: datagram.integer(at: offset + 6)!,
                sequence: datagram.integer(at: offset + 8)!,
                portID: datagram.integer(at: offset + 12)!,
                payload: datagram[(base + NL.headerSize)..<(base + length)]))
            offset += netlinkAlign(length)
        }
        return messages
    }

    /// The attributes after a family header of `headerSize` bytes.
    public func attributes(after headerSize: Int) -> NetlinkAttributes {
        let start = min(payload.startIndex + netlinkAlign(headerSize), payload.endIndex)
        return NetlinkAttributes(payload[start...])
    }

    /// A message the kernel sent that does not parse.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { "malformed netlink message: \(reason)" }
    }
}

/// The attributes of a message or of a nest, in order, by type.
///
/// Lookups return the first attribute of a type; unknown types are kept and
/// ignored. A truncated trailing attribute is dropped, as the kernel's own
/// parser does with `nla_ok`.
public struct NetlinkAttributes: Sendable {
    public struct Attribute: Sendable {
        /// The type without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits.
        public var type: UInt16
        public var payload: ArraySlice<UInt8>
    }

    public private(set) var all: [Attribute] = []

    public init(_ bytes: ArraySlice<UInt8>) {
        var offset = 0
        while bytes.count - offset >= NL.attributeHeaderSize {
            let length = Int(bytes.integer(at: offset, as: UInt16.self)!)
            let type = bytes.integer(at: offset + 2, as: UInt16.self)! & NL.attributeTypeMask
            guard length >= NL.attributeHeaderSize, offset + length <= bytes.count else { break }
            let base = bytes.startIndex + offset
            all.append(Attribute(type: type, payload: bytes[(base + NL.attributeHeaderSize)..<(base + length)]))
            offset += netlinkAlign(length)
        }
    }

    public subscript(type: UInt16) -> ArraySlice<UInt8>? {
        all.first { $0.type == type }?.payload
    }

    public func uint8(_ type: UInt16) -> UInt8? { self[type]?.integer(at: 0) }
    public func uint32(_ type: UInt16) -> UInt32? { self[type]?.integer(at: 0) }
    public func int32(_ type: UInt16) -> Int32? { self[type]?.integer(at: 0) }

    /// A string attribute, without its terminating NUL.
    public func string(_ type: UInt16) -> String? {
        guard let payload = self[type] else { return nil }
        let end = payload.firstIndex(of: 0) ?? payload.endIndex
        return String(decoding: payload[..<end], as: UTF8.self)
    }

    public func ipv4(_ type: UInt16) -> IPv4? {
        self[type].flatMap { IPv4(bytes: $0) }
    }

    /// The members of a nested attribute.
    public func nested(_ type: UInt16) -> NetlinkAttributes? {
        self[type].map(NetlinkAttributes.init)
    }
}

/// The kernel's answer in an NLMSG_ERROR (or the status of an NLMSG_DONE):
/// an errno, zero for success, and the extended-ack text when there is one.
struct NetlinkStatus: Equatable {
    /// 0, or a positive errno.
    var errno: Int32
    /// NLMSGERR_ATTR_MSG, e.g. "Nexthop has invalid gateway".
    var message: String?

    /// Parses the payload of NLMSG_ERROR: `int error; struct nlmsghdr msg;`
    /// then the rest of the request unless NLM_F_CAPPED, then the extended-ack
    /// attributes if NLM_F_ACK_TLVS.
    init(error message: NetlinkMessage) throws(NetlinkMessage.Malformed) {
        let payload = message.payload
        guard let error = payload.integer(at: 0, as: Int32.self),
              let requestLength = payload.integer(at: 4, as: UInt32.self) else {
            throw NetlinkMessage.Malformed(reason: "NLMSG_ERROR of \(payload.count) bytes")
        }
        errno = -error
        var tlvOffset = 4 + NL.headerSize
        if message.flags & NL.capped == 0 {
            tlvOffset = 4 + netlinkAlign(Int(requestLength))
        }
        self.message = Self.extAckMessage(message, at: tlvOffset)
    }

    /// Parses the payload of NLMSG_DONE: `int error;` then extended-ack attributes.
    init(done message: NetlinkMessage) {
        errno = -(message.payload.integer(at: 0, as: Int32.self) ?? 0)
        self.message = Self.extAckMessage(message, at: 4)
    }

    init(errno: Int32, message: String?) {
        self.errno = errno
        self.message = message
    }

    private static func extAckMessage(_ message: NetlinkMessage, at offset: Int) -> String? {
        guard message.flags & NL.ackTLVs != 0, offset <= message.payload.count else { return nil }
        let start = message.payload.startIndex + offset
        let text = NetlinkAttributes(message.payload[start...]).string(NL.errAttrMessage)
        return text?.isEmpty == false ? text : nil
    }
}
