import Glibc

/// Whether the host's own firewall sees bridged frames and would drop them: with the
/// `br_netfilter` module loaded and `bridge-nf-call-iptables` on, frames that cross a
/// bridge go through the FORWARD hook, and a FORWARD policy of drop (Docker sets one)
/// silently cuts a LAN bridge's containers off.
public enum BridgeFiltering {
    public static let callIptables = "/proc/sys/net/bridge/bridge-nf-call-iptables"

    /// True when br_netfilter is loaded and passes bridged IPv4 frames to the FORWARD hook.
    public static func filtersBridgedFrames() -> Bool {
        guard let value = try? FirewallFiles.read(callIptables) else {
            // No sysctl: the module is not loaded (it makes the file).
            return false
        }
        return value == "1"
    }

    /// The chains on the forward hook whose policy is drop, as `family table chain`, read
    /// through libnftables (iptables-nft rules included; iptables-legacy's are not in
    /// nftables at all). A listing that fails is an error, never "none".
    public static func droppingForwardChains() throws -> [String] {
        let nft = try Nftables()
        let out = try nft.run([.node("list", .node("chains", .null))], operation: "list chains")
        guard case .array(let items)? = out["nftables"] else {
            throw NftablesError(.output, "list chains", "no \"nftables\" array in the listing")
        }
        return items.compactMap { item -> String? in
            guard let chain = item["chain"], chain["hook"]?.string == "forward", chain["policy"]?.string == "drop",
                  let family = chain["family"]?.string, family == "ip" || family == "inet" else { return nil }
            return "\(family) \(chain["table"]?.string ?? "?") \(chain["name"]?.string ?? "?")"
        }
    }
}
