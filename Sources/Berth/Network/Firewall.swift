import BerthKernel
import Foundation

/// berth's nftables rules, in one table of its own (`ip berth`):
///
/// - isolation: traffic from one berth bridge to another is dropped (chain
///   `forward`, set `bridges`), so that networks only meet through the host;
/// - masquerade: outbound NAT for networks with `masquerade: true` (chain `postrouting`).
///
/// Every rule carries a comment `berth:<project>/<network>[:isolate]`, so that berth
/// removes exactly its own. berth speaks to nftables through the `nft` program
/// (Debian `nftables`).
public struct Firewall: Sendable {
    public var nft: String

    public init(nft: String = Firewall.findNFT()) {
        self.nft = nft
    }

    public static func findNFT() -> String {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/nft") {
            return "\(dir)/nft"
        }
        return "nft"
    }

    public var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: nft) }

    public static func masqueradeTag(project: String, network: String) -> String { "berth:\(project)/\(network)" }
    public static func isolationTag(project: String, network: String) -> String { "berth:\(project)/\(network):isolate" }

    /// Tags of every rule in berth's table (empty when the table does not exist).
    public func rules() throws -> [String] {
        try listing().map(\.tag)
    }

    /// Adds what is missing of a network's rules, and removes its masquerade rule when not wanted.
    public func ensure(project: String, network: Network) throws {
        try Self.exclusively { try ensureLocked(project: project, network: network) }
    }

    func ensureLocked(project: String, network: Network) throws {
        let present = Set(try rules())
        let isolate = Self.isolationTag(project: project, network: network.name)
        let masquerade = Self.masqueradeTag(project: project, network: network.name)
        if !network.masquerade, present.contains(masquerade) {
            try delete(tags: [masquerade])
        }
        var script = """
            add table ip berth
            add set ip berth bridges { type ifname; }
            add chain ip berth forward { type filter hook forward priority filter; policy accept; }
            add chain ip berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
            add element ip berth bridges { "\(network.bridge)" }

            """
        if !present.contains(isolate) {
            script += "add rule ip berth forward iifname \"\(network.bridge)\" oifname != \"\(network.bridge)\" "
                + "oifname @bridges drop comment \"\(isolate)\"\n"
        }
        if network.masquerade, !present.contains(masquerade) {
            script += "add rule ip berth postrouting ip saddr \(network.subnet) ip daddr != \(network.subnet) "
                + "oifname != \"\(network.bridge)\" masquerade comment \"\(masquerade)\"\n"
        }
        let (status, _, err) = try run(["-f", "-"], input: script)
        guard status == 0 else {
            throw KernelError("nft add rules", "networks.\(network.name)", detail: err.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if network.masquerade { try enableForwarding() }
    }

    /// Removes a network's rules and its bridge from the set; the table goes with its last rule.
    public func remove(project: String, network: String, bridge: String) throws {
        guard isAvailable else { return }
        try Self.exclusively { try removeLocked(project: project, network: network, bridge: bridge) }
    }

    func removeLocked(project: String, network: String, bridge: String) throws {
        try delete(tags: [Self.isolationTag(project: project, network: network),
                          Self.masqueradeTag(project: project, network: network)])
        _ = try run(["delete", "element", "ip", "berth", "bridges", "{ \"\(bridge)\" }"])
        if try listing().isEmpty { _ = try run(["delete", "table", "ip", "berth"]) }
    }

    /// The table is shared by every project (and every state directory) on the host: one
    /// change at a time, so that removing the last rule never deletes a table another
    /// berth is adding to.
    static let lockPath = "/run/lock/berth-nftables.lock"

    static func exclusively<T>(_ body: () throws -> T) throws -> T {
        let dir = (lockPath as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KernelError("open", lockPath, detail: String(cString: strerror(errno))) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw KernelError("lock", lockPath, detail: String(cString: strerror(errno))) }
        }
        return try body()
    }

    struct Rule {
        var chain: String
        var handle: Int
        var tag: String
    }

    func listing() throws -> [Rule] {
        let (status, out, _) = try run(["-a", "list", "table", "ip", "berth"])
        guard status == 0 else { return [] }
        var chain = ""
        var rules: [Rule] = []
        for line in out.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("chain ") { chain = String(text.split(separator: " ")[1]) }
            guard let start = text.range(of: "comment \"")?.upperBound, let end = text[start...].firstIndex(of: "\""),
                  let handle = text.split(separator: " ").last.flatMap({ Int($0) }) else { continue }
            rules.append(Rule(chain: chain, handle: handle, tag: String(text[start..<end])))
        }
        return rules
    }

    func delete(tags: Set<String>) throws {
        for rule in try listing() where tags.contains(rule.tag) {
            let (rc, _, err) = try run(["delete", "rule", "ip", "berth", rule.chain, "handle", String(rule.handle)])
            guard rc == 0 else {
                throw KernelError("nft delete rule", rule.tag, detail: err.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
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
            throw KernelError("run", nft, detail: "networks need nft (Debian package nftables): \(error)")
        }
        if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
        try? inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
