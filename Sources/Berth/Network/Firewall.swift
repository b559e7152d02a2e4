import BerthKernel
import Foundation

/// Outbound NAT for a network's subnet, with nftables: one table of berth's own
/// (`ip berth`, chain `postrouting`), one rule per network, tagged with a comment
/// `berth:<project>/<network>` so that berth removes exactly its own rules.
///
/// berth speaks to nftables through the `nft` program (Debian `nftables`), and
/// only for networks that ask for `masquerade: true`.
public struct Masquerade: Sendable {
    public var nft: String

    public init(nft: String = Masquerade.findNFT()) {
        self.nft = nft
    }

    public static func findNFT() -> String {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/nft") {
            return "\(dir)/nft"
        }
        return "nft"
    }

    public var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: nft) }

    public static func tag(project: String, network: String) -> String { "berth:\(project)/\(network)" }

    /// Tags of the rules in berth's chain (empty when the table does not exist).
    public func rules() throws -> [String] {
        let (status, out, _) = try run(["-a", "list", "chain", "ip", "berth", "postrouting"])
        guard status == 0 else { return [] }
        return out.split(separator: "\n").compactMap { line in
            guard let start = line.range(of: "comment \"")?.upperBound,
                  let end = line[start...].firstIndex(of: "\"") else { return nil }
            return String(line[start..<end])
        }
    }

    /// Adds the rule of a network (after removing any older one), and turns on IPv4 forwarding.
    public func add(project: String, network: String, subnet: IPv4CIDR, bridge: String) throws {
        try remove(project: project, network: network)
        let tag = Self.tag(project: project, network: network)
        let script = """
            add table ip berth
            add chain ip berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
            add rule ip berth postrouting ip saddr \(subnet) ip daddr != \(subnet) oifname != "\(bridge)" masquerade comment "\(tag)"

            """
        let (status, _, err) = try run(["-f", "-"], input: script)
        guard status == 0 else { throw KernelError("nft add masquerade", tag, detail: err.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try enableForwarding()
    }

    /// Removes the network's rule, and berth's table once it holds no rule.
    public func remove(project: String, network: String) throws {
        let tag = Self.tag(project: project, network: network)
        let (status, out, _) = try run(["-a", "list", "chain", "ip", "berth", "postrouting"])
        guard status == 0 else { return }
        var remaining = 0
        for line in out.split(separator: "\n") where line.contains("comment \"berth:") {
            guard line.contains("comment \"\(tag)\""), let handle = line.split(separator: " ").last.flatMap({ Int($0) }) else {
                remaining += 1
                continue
            }
            let (rc, _, err) = try run(["delete", "rule", "ip", "berth", "postrouting", "handle", String(handle)])
            guard rc == 0 else { throw KernelError("nft delete rule", tag, detail: err.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if remaining == 0 { _ = try run(["delete", "table", "ip", "berth"]) }
    }

    func enableForwarding() throws {
        let path = "/proc/sys/net/ipv4/ip_forward"
        if (try? String(contentsOfFile: path, encoding: .utf8))?.hasPrefix("1") == true { return }
        do { try "1\n".write(toFile: path, atomically: false, encoding: .utf8) } catch {
            throw KernelError("enable IPv4 forwarding", path, detail: "\(error)")
        }
    }

    func run(_ arguments: [String], input: String? = nil) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nft)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inp
        do { try process.run() } catch {
            throw KernelError("run", nft, detail: "masquerade needs nft (Debian package nftables): \(error)")
        }
        if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
        try? inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
