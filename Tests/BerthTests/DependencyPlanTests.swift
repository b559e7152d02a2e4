import BerthKernel
import BerthSpec
import Testing
@testable import Berth

/// Plan order under dependsOn: pure, no root.
@Suite struct DependencyPlanTests {
    let base = PlannerTests()

    @Test func dependenciesComeFirstAndLeaveLast() {
        var web = base.container("web")
        web.dependsOn = [Dependency(name: "db")]
        var api = base.container("api")
        api.dependsOn = [Dependency(name: "web"), Dependency(name: "db")]
        let db = base.container("db")
        // File order: api, web, db.
        let created = base.plan([api, web, db], observed: [], records: [])
        #expect(created.actions.map(\.object.name) == ["db", "web", "api"])
        // Everything leaves: dependents first.
        let gone = base.plan([], observed: [api, web, db].map { base.running($0) },
                             records: [api, web, db].map { base.record($0) })
        #expect(gone.actions.map(\.object.name) == ["api", "web", "db"])
        #expect(gone.actions.allSatisfy { $0.kind == .destroy })
    }

    @Test func aReplacedDependencyReplacesDependentsThatAskForIt() {
        let db = base.container("db", command: ["/bin/db", "--old"])
        var web = base.container("web")
        web.dependsOn = [Dependency(name: "db", restart: true)]
        var worker = base.container("worker")
        worker.dependsOn = [Dependency(name: "db")]
        let newDB = base.container("db", command: ["/bin/db", "--new"])
        let p = base.plan([web, worker, newDB], observed: [db, web, worker].map { base.running($0) },
                          records: [db, web, worker].map { base.record($0) })
        let kinds = Dictionary(uniqueKeysWithValues: p.actions.map { ($0.object.name, $0.kind) })
        #expect(kinds == ["db": .replace, "web": .replace, "worker": .noop])
        #expect(p.actions.first { $0.object.name == "web" }?.reason.contains("dependsOn.db.restart: true") == true)
    }

    /// The order is "the first in file order whose dependencies are placed", whatever the
    /// size: dependents wait for what they name (a later one or one after them), the rest
    /// keep file order; a dependency on a container the spec lacks does not hold anyone up.
    @Test func startOrderKeepsFileOrderAndPutsDependenciesFirst() {
        var cs = (0..<2000).map { base.container("c\($0)") }
        cs[0].dependsOn = [Dependency(name: "c3")]
        cs[5].dependsOn = [Dependency(name: "c1999"), Dependency(name: "c6")]
        cs[6].dependsOn = [Dependency(name: "gone")]
        let order = DependencyOrder.startOrder(cs).map(\.name)
        let rest = (1..<2000).map { "c\($0)" }.filter { !["c3", "c5", "c6", "c1999"].contains($0) }
        #expect(order == ["c1", "c2", "c3", "c0", "c4", "c6"] + Array(rest.dropFirst(3)) + ["c1999", "c5"])
        #expect(DependencyOrder.startOrder(Array(cs[1...4])).map(\.name) == ["c1", "c2", "c3", "c4"])
    }
}
