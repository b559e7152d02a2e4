import Berth
import BerthKernel
import Foundation
import Testing

/// Every failpoint of the engine, reached by one apply that does a bit of everything
/// (create, update in place, re-address, replace, destroy, a network made and one
/// removed): berth is killed there (or the step fails with EIO), then apply runs
/// again, and the result must be exactly what one clean apply gives. Nothing leaks,
/// nothing is handed out twice, and what was running untouched keeps its process.
/// `restart: never` everywhere: a container the crash left unstarted must be created
/// by the next apply, not left as "stopped".
@Suite(.enabled(if: geteuid() == 0, "needs root: containers, bridges, veths"))
struct FailpointTests {
    struct World {
        let box: Sandbox
        let before: String
        let after: String
        let beforeSpec: Spec
        let afterSpec: Spec
    }

    static func container(_ name: String, command: String = "1000", memory: String = "32Mi",
                          networks: [(String, String?)]) -> String {
        let nets = networks.map { "\($0.0): {\($0.1.map { "ip: \($0)" } ?? "")}" }.joined(separator: ", ")
        return """
          \(name):
            rootfs: ./rootfs
            command: [/bin/sleep, "\(command)"]
            stopTimeout: 1s
            restart: never
            resources: {memory: \(memory)}
            networks: {\(nets)}
        """
    }

    func world(_ tag: String) throws -> World {
        let box = try Sandbox(tag)
        let front = try box.subnet(0), old = try box.subnet(1), extra = try box.subnet(2)
        let before = """
            version: 1
            networks:
              front: {subnet: \(front.subnet)}
              old: {subnet: \(old.subnet)}
            containers:
            \(Self.container("keep", networks: [("front", nil)]))
            \(Self.container("upd", networks: [("front", "\(front.prefix).20")]))
            \(Self.container("rep", networks: [("front", nil)]))
            \(Self.container("gone", networks: [("front", nil), ("old", nil)]))
            """
        let after = """
            version: 1
            networks:
              front: {subnet: \(front.subnet)}
              extra: {subnet: \(extra.subnet)}
            containers:
            \(Self.container("keep", networks: [("front", nil)]))
            \(Self.container("upd", memory: "48Mi", networks: [("front", "\(front.prefix).21")]))
            \(Self.container("rep", command: "1001", networks: [("front", nil)]))
            \(Self.container("new", networks: [("extra", nil), ("front", nil)]))
            """
        func load(_ text: String) throws -> Spec {
            try SpecLoader.load(text: text, fileName: "\(box.project).yaml", baseDirectory: box.directory).get()
        }
        return World(box: box, before: before, after: after, beforeSpec: try load(before), afterSpec: try load(after))
    }

    /// The host veth names of every attachment of the spec.
    static func veths(_ spec: Spec) -> Set<String> {
        Set(spec.containers.flatMap { c in
            c.networks.map { NetworkNames.hostVeth(project: spec.project, container: c.name, network: $0.network) }
        })
    }

    static func linkExists(_ name: String) throws -> Bool { try RouteNetlink().link(.name(name)) != nil }

    /// Asserts the project is exactly `spec`, converged: what a user and the kernel would check.
    static func expectConverged(_ w: World, _ spec: Spec, keepPID: Int32?, context: String,
                                sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let box = w.box
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 0, "\(context): plan after the second apply: \(plan.stdout)\(plan.stderr)",
                sourceLocation: sourceLocation)
        let status = try box.statusEntries()
        let running = Set(status.filter { $0["state"] as? String == "running" }.compactMap { $0["name"] as? String })
        #expect(running == Set(spec.containers.map(\.name)), "\(context): running \(running.sorted())",
                sourceLocation: sourceLocation)
        #expect(status.count == spec.containers.count, "\(context): status shows \(status.count) containers",
                sourceLocation: sourceLocation)
        if let keepPID {
            #expect(try box.runningPID("keep") == keepPID, "\(context): keep lost its process",
                    sourceLocation: sourceLocation)
        }
        let driver = try box.cgroups
        let cgroups = Set(try driver.children(of: "berth/\(box.project)"))
        #expect(cgroups == Set(spec.containers.map(\.name)), "\(context): cgroups \(cgroups.sorted())",
                sourceLocation: sourceLocation)
        let store = StateStore(root: box.stateDirectory)
        let records = try store.records(box.project)
        #expect(Set(records.containers.keys) == Set(spec.containers.map(\.name)),
                "\(context): container records \(records.containers.keys.sorted())", sourceLocation: sourceLocation)
        #expect(Set(records.networks.keys) == Set(spec.networks.map(\.name)),
                "\(context): network records \(records.networks.keys.sorted())", sourceLocation: sourceLocation)
        for (name, network) in records.networks {
            let addresses = Array(network.allocations.values)
            #expect(Set(addresses).count == addresses.count, "\(context): \(name) hands out an address twice",
                    sourceLocation: sourceLocation)
            let members = Set(spec.containers.filter { $0.networks.contains { $0.network == name } }.map(\.name))
            #expect(Set(network.allocations.keys) == members,
                    "\(context): \(name) allocations \(network.allocations.keys.sorted())", sourceLocation: sourceLocation)
        }
        let stale = (FileManager.default.subpaths(atPath: store.projectDirectory(box.project)) ?? [])
            .filter { $0.hasSuffix(".tmp") }
        #expect(stale.isEmpty, "\(context): temp files left: \(stale)", sourceLocation: sourceLocation)
        for veth in veths(spec) {
            #expect(try linkExists(veth), "\(context): veth \(veth) missing", sourceLocation: sourceLocation)
        }
        for veth in veths(w.beforeSpec).union(veths(w.afterSpec)).subtracting(veths(spec)) {
            #expect(try !linkExists(veth), "\(context): veth \(veth) leaked", sourceLocation: sourceLocation)
        }
        let bridges = Set(spec.networks.map(\.bridge))
        for network in w.beforeSpec.networks + w.afterSpec.networks {
            #expect(try linkExists(network.bridge) == bridges.contains(network.bridge),
                    "\(context): bridge \(network.bridge) of \(network.name)", sourceLocation: sourceLocation)
        }
        let rules = Set(try Firewall().rules())
        for network in w.beforeSpec.networks + w.afterSpec.networks {
            let tag = Firewall.isolationTag(project: box.project, network: network.name)
            #expect(rules.contains(tag) == bridges.contains(network.bridge),
                    "\(context): isolation rule of \(network.name)", sourceLocation: sourceLocation)
        }
    }

    /// After destroy: not a trace of the project.
    static func expectGone(_ w: World, context: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let box = w.box
        let r = try box.run("destroy", "-p", box.project)
        #expect(r.status == 0, "\(context): destroy: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: "\(box.stateDirectory)/\(box.project)"),
                "\(context): state left", sourceLocation: sourceLocation)
        #expect(try !box.cgroups.exists("berth/\(box.project)"), "\(context): cgroup left", sourceLocation: sourceLocation)
        for veth in veths(w.beforeSpec).union(veths(w.afterSpec)) {
            #expect(try !linkExists(veth), "\(context): veth \(veth) left", sourceLocation: sourceLocation)
        }
        for network in w.beforeSpec.networks + w.afterSpec.networks {
            #expect(try !linkExists(network.bridge), "\(context): bridge \(network.bridge) left",
                    sourceLocation: sourceLocation)
        }
        let rules = try Firewall().rules()
        #expect(!rules.contains { $0.hasPrefix("berth:\(box.project)/") }, "\(context): firewall rules left",
                sourceLocation: sourceLocation)
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        #expect(!mounts.contains(box.directory), "\(context): a mount left", sourceLocation: sourceLocation)
    }

    /// The image store's failpoints have their own walk (ImageFailpointTests); the lan
    /// failpoints need a NIC to take over: LanTests walks them.
    static let points = Failpoint.allCases.filter { !$0.isImageImport && !$0.needsLanNetwork }

    @Test(arguments: points)
    func killedAtEveryFailpointTheNextApplyConverges(point: Failpoint) throws {
        try walk(point, action: .kill)
    }

    @Test(arguments: points)
    func failedAtEveryFailpointTheRollbackLeavesWhatTheNextApplyFinishes(point: Failpoint) throws {
        try walk(point, action: .error)
    }

    func walk(_ point: Failpoint, action: Failpoint.Action) throws {
        let w = try world("fp")
        defer { w.box.close() }
        let box = w.box
        let context = "\(point.rawValue):\(action.rawValue)"
        try box.write(w.before)
        try box.apply()
        let keep = try box.runningPID("keep")
        #expect(keep != nil)

        try box.write(w.after)
        let armed = (point.needs.map { ["\($0.rawValue):error"] } ?? []) + ["\(point.rawValue):\(action.rawValue)"]
        let hurt = try box.run(["apply", "-f", box.specPath],
                               environment: [Failpoint.variable: armed.joined(separator: ",")])
        switch action {
        case .kill:
            #expect(hurt.signal == SIGKILL, "\(context): not reached (\(hurt.status)): \(hurt.stdout)\(hurt.stderr)")
        case .error:
            #expect(hurt.signal == nil && hurt.status == 1, "\(context): \(hurt.status) \(hurt.stdout)\(hurt.stderr)")
            #expect(hurt.stderr.contains("failpoint(\(point.rawValue)): Input/output error"),
                    "\(context): \(hurt.stderr)")
            if !point.isObservation {
                #expect(hurt.stderr.contains("run apply again") || hurt.stderr.contains("Run apply again"),
                        "\(context): \(hurt.stderr)")
            }
            if point.needs != nil {
                // The undo failed: the message must not claim that nothing was left.
                #expect(!hurt.stderr.contains("Nothing was left half-made"), "\(context): \(hurt.stderr)")
                #expect(hurt.stderr.contains("Left behind, as undoing the step failed: failpoint(\(point.rawValue))"),
                        "\(context): \(hurt.stderr)")
            }
        }
        let again = try box.run("apply", "-f", box.specPath)
        #expect(again.status == 0, "\(context): the apply after: \(again.stdout)\(again.stderr)")
        try Self.expectConverged(w, w.afterSpec, keepPID: keep, context: context)
        try Self.expectGone(w, context: context)
    }
}
