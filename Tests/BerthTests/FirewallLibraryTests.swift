import BerthKernel
import Foundation
import Testing

/// berth loads libnftables when it first needs its firewall, not at every start: a host
/// whose libnftables is missing or broken runs containers without networks, and is told
/// which package to install, before anything changes, by a spec that needs the firewall.
/// The broken library is real: berth runs in a mount namespace of its own where
/// /dev/null is bind-mounted over the file the dynamic loader would open.
@Suite(.enabled(if: geteuid() == 0, "needs root: a mount namespace, cgroups, a bridge"))
struct FirewallLibraryTests {
    /// The file the dynamic loader opens for `libnftables.so.1`, symlinks resolved.
    static func libraryFile() throws -> String {
        let handle = try #require(dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL), "libnftables1 is not installed")
        dlclose(handle)
        let dirs = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                    "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib"]
        let found = dirs.lazy.compactMap { dir -> String? in
            guard let real = realpath(dir + "/libnftables.so.1", nil) else { return nil }
            defer { free(real) }
            return String(cString: real)
        }.first
        return try #require(found, "libnftables.so.1 is in none of \(dirs)")
    }

    /// Runs berth where libnftables cannot be loaded (the rest of the host is untouched).
    static func withoutLibrary(_ box: Sandbox) throws {
        box.launcher = ["/usr/bin/unshare", "--mount", "--propagation", "private", "--",
                        "/bin/sh", "-c", "mount --bind /dev/null \(try libraryFile()) && exec \"$0\" \"$@\""]
    }

    @Test func aContainerWithoutNetworksRunsWithoutTheLibrary() throws {
        let box = try Sandbox("nolib-plain")
        defer { box.close() }
        try Self.withoutLibrary(box)
        try box.write("""
            version: 1
            containers:
              app:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
            """)
        try box.apply()
        let pid = try #require(try box.pid(of: "app"))
        #expect(!gone(pid))
        let destroyed = try box.run("destroy", "-p", box.project)
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        #expect(eventually { gone(pid) })
    }

    @Test func aNetworkNeedsTheLibraryAndIsRefusedBeforeAnythingChanges() throws {
        let box = try Sandbox("nolib-net")
        defer { box.close() }
        try Self.withoutLibrary(box)
        let net = try box.subnet()
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(net.subnet)}
            containers:
              web:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                networks: [front]
            """)
        let r = try box.run("apply", "-f", box.specPath)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        let errors = r.stderr.split(separator: "\n").filter { $0.contains(": error: ") }.map(String.init)
        #expect(errors.count == 1, "\(r.stderr)")
        let error = try #require(errors.first)
        #expect(error.hasPrefix("\(box.specPath):2:1: error: networks: nftables: load libnftables.so.1: "), "\(error)")
        #expect(error.contains("file too short"), "the loader's reason: \(error)")
        #expect(error.hasSuffix("(berth's firewall needs libnftables: Debian's libnftables1)"), "\(error)")
        #expect(r.stderr.hasSuffix("Nothing was changed.\n"), "\(r.stderr)")
        // Nothing was made: no bridge, no cgroup, no container.
        let host = try RouteNetlink()
        for (_, bridge) in box.networkObjects().bridges {
            #expect(try host.link(.name(bridge)) == nil, "bridge \(bridge) was made")
        }
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
        #expect(try box.status().isEmpty)

        // The same spec where the library loads: it applies.
        box.launcher = []
        try box.apply()
        #expect(try box.pid(of: "web") != nil)
    }
}
