/// An IPv4 address, held as a host-order `UInt32` (`10.0.0.1` is `0x0A00_0001`).
///
/// The kernel layer has its own small type so that it does not depend on the
/// spec model; it parses and prints dotted quads and nothing more.
public struct IPv4: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address in host byte order.
    public var value: UInt32

    public init(_ value: UInt32) {
        self.value = value
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses a dotted quad (`10.88.1.10`): four decimal parts of 0 to 255,
    /// no leading zeros (so `010.0.0.1` is not silently octal or decimal).
    public init?(_ text: some StringProtocol) {
        var result: UInt32 = 0
        var parts = 0
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard parts < 4, (1...3).contains(part.count),
                  part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0",
                  let byte = UInt8(part) else { return nil }
            result = result << 8 | UInt32(byte)
            parts += 1
        }
        guard parts == 4 else { return nil }
        value = result
    }

    /// `0.0.0.0`, the destination of a default route.
    public static let any = IPv4(0)

    /// The four bytes in network order, as netlink carries them.
    public var bytes: [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    /// Reads four bytes in network order.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 4 else { return nil }
        value = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    public static func < (lhs: IPv4, rhs: IPv4) -> Bool { lhs.value < rhs.value }
}

/// An IPv4 address with a prefix length: `10.88.1.10/24` (an interface
/// address) or `10.88.1.0/24` (a subnet or route destination).
///
/// The address keeps its host bits; `network` clears them.
public struct IPv4Prefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4
    /// 0 to 32.
    public var length: UInt8

    /// - Precondition: `length` is at most 32.
    public init(_ address: IPv4, _ length: UInt8) {
        precondition(length <= 32, "IPv4 prefix length \(length) is over 32")
        self.address = address
        self.length = length
    }

    /// Parses `a.b.c.d/len`; a bare address is a /32.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPv4(parts[0]) else { return nil }
        var length: UInt8 = 32
        if parts.count == 2 {
            guard (1...2).contains(parts[1].count), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = UInt8(parts[1]), n <= 32 else { return nil }
            length = n
        }
        self.init(address, length)
    }

    /// `0.0.0.0/0`.
    public static let defaultRoute = IPv4Prefix(.any, 0)

    /// The mask as an address: `255.255.255.0` for /24.
    public var netmask: IPv4 {
        IPv4(length == 0 ? 0 : UInt32.max << (32 - UInt32(length)))
    }

    /// The prefix with its host bits cleared: `10.88.1.0/24`.
    public var network: IPv4Prefix {
        IPv4Prefix(IPv4(address.value & netmask.value), length)
    }

    /// The subnet's broadcast address, or nil for /31 and /32, which have none.
    public var broadcast: IPv4? {
        length >= 31 ? nil : IPv4(address.value | ~netmask.value)
    }

    /// Whether `other` lies inside this prefix.
    public func contains(_ other: IPv4) -> Bool {
        other.value & netmask.value == address.value & netmask.value
    }

    public var description: String { "\(address)/\(length)" }
}

/// A 48-bit Ethernet address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    /// - Precondition: six bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 6, "a MAC address has 6 bytes, not \(bytes.count)")
        self.bytes = bytes
    }

    /// Parses `02:42:ac:11:00:02` (colons or dashes, either case).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(omittingEmptySubsequences: false) { $0 == ":" || $0 == "-" }
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// Whether the locally-administered bit is set and the multicast bit is
    /// clear, as addresses made up by software should be.
    public var isLocalUnicast: Bool { bytes[0] & 0b11 == 0b10 }

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}
