import BerthKernel

/// Names and identities berth derives for network objects, from the project's
/// names alone, so that the same spec finds the same objects again.
public enum NetworkNames {
    /// The host end of a container's veth on a network: `bv` and 13 hex digits
    /// of a hash of `project/container/network` (15 characters, the kernel's limit).
    public static func hostVeth(project: String, container: String, network: String) -> String {
        "bv" + StableHash.hex(of: "\(project)/\(container)/\(network)", digits: 13)
    }

    /// The container end: `eth0`, `eth1`, ... in the order the container lists its networks.
    public static func containerInterface(_ index: Int) -> String { "eth\(index)" }

    /// The bridge's pinned MAC: locally administered, unicast, from a hash of `project/network`.
    public static func bridgeMAC(project: String, network: String) -> MACAddress {
        mac(for: "mac:\(project)/\(network)")
    }

    /// A container interface's MAC, stable across restarts and repairs, so that
    /// the neighbours' ARP caches stay right when berth re-creates a veth.
    public static func interfaceMAC(project: String, container: String, network: String) -> MACAddress {
        mac(for: "mac:\(project)/\(container)/\(network)")
    }

    static func mac(for key: String) -> MACAddress {
        let h = StableHash.of(key)
        var bytes = (0..<6).map { UInt8(truncatingIfNeeded: h >> (8 * UInt64($0))) }
        bytes[0] = (bytes[0] & 0xFC) | 0x02
        return MACAddress(bytes: bytes)
    }
}

extension IPv4Address {
    var kernel: IPv4 { IPv4(value) }
}

extension IPv4CIDR {
    var kernelPrefix: IPv4Prefix { IPv4Prefix(IPv4(network.value), UInt8(prefix)) }
    func host(_ address: IPv4Address) -> IPv4Prefix { IPv4Prefix(IPv4(address.value), UInt8(prefix)) }
}
