import BerthKernel
import Testing
@testable import Berth

/// The planner is a pure function: these tests build spec, observed state and
/// records by hand and need no root.
@Suite struct PlannerTests {
    static let mapping = KernelMapping(resolveDevice: { $0 == "/dev/vda" ? (254, 0) : nil })
    /// Rounds memory down to a 4 KiB page, like the kernel.
    let planner = Planner(mapping: mapping, normalize: { l in
        var l = l
        l.memoryBytes = l.memoryBytes.map { $0 / 4096 * 4096 }
        return l
    })

    func container(_ name: String = "web", memory: String? = "64Mi", command: [String] = ["/bin/sleep", "1000"],
                   restart: RestartPolicy = .always) -> Container {
        var c = Container(name: name, rootfs: "/srv/rootfs", command: command, restart: restart)
        if let memory {
            let units: [String: UInt64] = ["64Mi": 64 << 20, "128Mi": 128 << 20, "50000000": 50_000_000]
            c.resources.memory = ByteSize(bytes: units[memory]!, text: memory)
        }
        return c
    }

    func running(_ c: Container, limits: CgroupLimits? = nil, hostname: String? = nil) -> ObservedContainer {
        ObservedContainer(name: c.name, process: ProcessIdentity(pid: 4242, startTime: 99),
                          limits: limits ?? planner.normalize(Self.mapping.limits(for: c.resources)),
                          hostname: hostname ?? c.hostname)
    }

    func record(_ c: Container) -> ContainerRecord {
        ContainerRecord(spec: c, limits: Self.mapping.limits(for: c.resources),
                        process: ProcessIdentity(pid: 4242, startTime: 99))
    }

    func plan(_ spec: [Container], observed: [ObservedContainer], records: [ContainerRecord]) -> Plan {
        planner.plan(
            spec: Spec(project: "demo", containers: spec),
            observed: ObservedState(project: "demo", containers: Dictionary(uniqueKeysWithValues: observed.map { ($0.name, $0) })),
            records: ProjectRecords(containers: Dictionary(uniqueKeysWithValues: records.map { ($0.spec.name, $0) })))
    }

    @Test func missingContainerIsCreated() {
        let p = plan([container()], observed: [], records: [])
        #expect(p.actions.map(\.kind) == [.create])
        #expect(p.summary == "Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy.")
    }

    @Test func runningAsAppliedIsNoChange() {
        let c = container()
        let p = plan([c], observed: [running(c)], records: [record(c)])
        #expect(p.actions.map(\.kind) == [.noop])
        #expect(!p.hasChanges)
        #expect(p.summary == "No changes. Running state matches the spec.")
    }

    @Test func kernelRoundingIsConvergedNotDrift() {
        let c = container(memory: "50000000")
        var seen = running(c)
        seen.limits?.memoryBytes = 49_999_872
        let p = plan([c], observed: [seen], records: [record(c)])
        #expect(p.actions.map(\.kind) == [.noop])
    }

    @Test func raisedMemoryIsAnInPlaceUpdateInTheUsersUnits() throws {
        let old = container(memory: "64Mi"), new = container(memory: "128Mi")
        let p = plan([new], observed: [running(old)], records: [record(old)])
        let a = try #require(p.actions.first)
        #expect(a.kind == .update)
        #expect(!a.drifted)
        #expect(a.changes == [FieldChange(field: "resources.memory", old: "64Mi", new: "128Mi")])
        #expect(PlanText(color: false).render(p).contains("resources.memory: 64Mi -> 128Mi"))
        #expect(p.summary == "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.")
    }

    @Test func valueWrittenByHandIsDrift() throws {
        let c = container(memory: "64Mi")
        var seen = running(c)
        seen.limits?.memoryBytes = 100 << 20
        let p = plan([c], observed: [seen], records: [record(c)])
        let a = try #require(p.actions.first)
        #expect(a.kind == .update)
        #expect(a.drifted)
        let change = try #require(a.changes.first)
        #expect(change.drift == Drift(applied: "64Mi", observed: "100Mi"))
        #expect(change.new == "64Mi")
        let text = PlanText(color: false).render(p)
        #expect(text.contains("changed outside berth"))
        #expect(text.contains("resources.memory: 100Mi -> 64Mi  # drift"))
    }

    @Test func changedCommandForcesReplacement() throws {
        let old = container(command: ["/bin/sleep", "1"]), new = container(command: ["/bin/sleep", "2"])
        let p = plan([new], observed: [running(old)], records: [record(old)])
        let a = try #require(p.actions.first)
        #expect(a.kind == .replace)
        #expect(a.changes.map(\.field) == ["command"])
        #expect(a.changes.first?.forcesReplacement == true)
        let text = PlanText(color: false).render(p)
        #expect(text.contains("-/+ container web"))
        #expect(text.contains("# forces replacement"))
        #expect(p.summary == "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy.")
    }

    @Test(arguments: ["rootfs", "env", "workdir", "user", "namespaces", "mounts", "capabilities"])
    func everyImmutableFieldForcesReplacement(field: String) throws {
        let old = container()
        var new = old
        switch field {
        case "rootfs": new.rootfs = "/srv/other"
        case "env": new.env = [EnvVar(name: "MODE", value: "prod")]
        case "workdir": new.workdir = "/tmp"
        case "user": new.user = User(uid: 1000, gid: 1000)
        case "namespaces": new.namespaces = [.uts, .ipc, .pid, .mount]
        case "mounts": new.mounts = [.tmpfs(target: "/tmp", size: nil, readOnly: false)]
        case "capabilities": new.capabilities = CapabilityChanges(add: ["CAP_NET_ADMIN"])
        default: Issue.record("unknown field \(field)")
        }
        let p = plan([new], observed: [running(old)], records: [record(old)])
        #expect(p.actions.first?.kind == .replace)
        #expect(p.actions.first?.changes.map(\.field) == [field])
    }

    @Test func containerLeftTheSpecIsDestroyedFirst() {
        let keep = container("keep"), gone = container("gone")
        let p = plan([keep], observed: [running(gone), running(keep)], records: [record(gone), record(keep)])
        #expect(p.actions.map(\.kind) == [.destroy, .noop])
        #expect(p.actions.first?.object == .container("gone"))
        #expect(p.summary == "Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy.")
    }

    @Test func killedContainerIsStartedAgainAndShownAsDrift() throws {
        let c = container()
        let dead = ObservedContainer(name: "web", process: nil, limits: nil, lastExit: ExitRecord(status: .signaled(9), finishedAt: 0))
        let a = try #require(plan([c], observed: [dead], records: [record(c)]).actions.first)
        #expect(a.kind == .start)
        #expect(a.drifted)
        #expect(a.reason.contains("SIGKILL"))
    }

    @Test func exitedContainerUnderRestartNeverIsLeft() throws {
        let c = container(restart: .never)
        let exited = ObservedContainer(name: "web", process: nil, limits: nil, lastExit: ExitRecord(status: .exited(0), finishedAt: 0))
        let p = plan([c], observed: [exited], records: [record(c)])
        #expect(p.actions.first?.kind == .leave)
        #expect(!p.hasChanges)
        #expect(PlanText(color: false).render(p).contains("container web: left as it is"))
    }

    @Test(arguments: [(Int32(0), ActionKind.leave), (Int32(3), ActionKind.start)])
    func onFailureRestartsOnlyFailures(status: Int32, expected: ActionKind) {
        let c = container(restart: .onFailure)
        let exited = ObservedContainer(name: "web", lastExit: ExitRecord(status: .exited(status), finishedAt: 0))
        #expect(plan([c], observed: [exited], records: [record(c)]).actions.first?.kind == expected)
    }

    @Test func hostnameChangedByHandIsDriftAndUpdatedInPlace() throws {
        let c = container()
        let p = plan([c], observed: [running(c, hostname: "intruder")], records: [record(c)])
        let a = try #require(p.actions.first)
        #expect(a.kind == .update)
        #expect(a.changes.first?.drift == Drift(applied: "web", observed: "intruder"))
    }

    @Test func interruptedApplyIsAdoptedOrCreated() {
        let c = container()
        // The record was written, the start never happened: the cgroup may exist, empty.
        var intent = record(c)
        intent.process = nil
        let empty = ObservedContainer(name: "web", process: nil, limits: CgroupLimits())
        #expect(plan([c], observed: [empty], records: [intent]).actions.first?.kind == .create)
        // No cgroup left either (the failed start removed it).
        let nothing = ObservedContainer(name: "web")
        #expect(plan([c], observed: [nothing], records: [intent]).actions.first?.kind == .create)
        // The start happened but the pid was never recorded: the running container is adopted.
        #expect(plan([c], observed: [running(c)], records: [intent]).actions.first?.kind == .noop)
    }

    @Test(arguments: [RestartPolicy.never, .always, .onFailure])
    func intentWithoutAProcessIsCreatedWhateverTheRestartPolicy(policy: RestartPolicy) throws {
        let c = container(restart: policy)
        var intent = record(c)
        intent.process = nil
        let p = plan([c], observed: [ObservedContainer(name: "web")], records: [intent])
        let a = try #require(p.actions.first)
        #expect(a.kind == .create)
        #expect(!a.drifted)
        #expect(p.summary == "Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy.")
    }

    @Test func jsonIsVersionedAndCarriesBeforeAfterAndDrift() throws {
        let c = container(memory: "64Mi")
        var seen = running(c)
        seen.limits?.memoryBytes = 100 << 20
        let json = try PlanJSON.render(plan([c], observed: [seen], records: [record(c)]))
        #expect(json.contains("\"formatVersion\" : 1"))
        #expect(json.contains("\"action\" : \"update\""))
        #expect(json.contains("\"resources.memory\" : \"100Mi\""))
        #expect(json.contains("\"observed\" : \"100Mi\""))
    }
}
