import BerthKernel
import Foundation
import Testing

/// An image import stopped at each of its steps (killed, or the step failing with EIO) leaves
/// the store with nothing half-made, and the next apply imports what is missing, runs the
/// container and converges. The import comes before the plan: the project has nothing yet.
@Suite(.enabled(if: geteuid() == 0, "needs root: a container from an image"))
struct ImageFailpointTests {
    static let points = Failpoint.allCases.filter(\.isImageImport)

    @Test(arguments: points, [Failpoint.Action.kill, .error])
    func anImportStoppedAtEachStepIsFinishedByTheNextApply(point: Failpoint, action: Failpoint.Action) throws {
        let images = try ImageFixtures("fp")
        defer { images.close() }
        let layout = try images.umociLayout()
        let box = try Sandbox("fp-image")
        defer { box.close() }
        let context = "\(point.rawValue):\(action.rawValue)"
        try box.write("""
            version: 1
            containers:
              web:
                image: oci:\(layout):app
                entrypoint: [/bin/sleep]
                command: ["1000"]
                namespaces: [uts, ipc, pid, mount]
                restart: never
                stopTimeout: 1s

            """)
        let hurt = try box.run(["apply", "-f", box.specPath], environment: [Failpoint.variable: context])
        switch action {
        case .kill:
            #expect(hurt.signal == SIGKILL, "\(context): not reached (\(hurt.status)): \(hurt.stdout)\(hurt.stderr)")
        case .error:
            #expect(hurt.signal == nil && hurt.status == 1, "\(context): \(hurt.status) \(hurt.stdout)\(hurt.stderr)")
            #expect(hurt.stderr.contains("failpoint(\(point.rawValue)): Input/output error"), "\(context): \(hurt.stderr)")
        }
        #expect(try !box.cgroups.exists("berth/\(box.project)"), "\(context): the project was started")
        let store = box.stateDirectory + "/images"
        #expect(try Self.records(store).isEmpty, "\(context): an image was recorded")

        let again = try box.run("apply", "-f", box.specPath)
        #expect(again.status == 0, "\(context): the apply after: \(again.stdout)\(again.stderr)")
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 0, "\(context): plan after: \(plan.stdout)\(plan.stderr)")
        #expect(try box.runningPID("web") != nil, "\(context): web is not running")

        // One image, every blob whole (its name is its digest), exactly its layers unpacked,
        // nothing staged left over.
        let recorded = try Self.records(store)
        #expect(recorded.count == 1, "\(context): \(recorded.count) images recorded")
        let layers = Set((recorded.first?["layers"] as? [String] ?? []).map { String($0.dropFirst("sha256:".count)) })
        #expect(layers.count == 3, "\(context): layers \(layers)")
        let unpacked = Set(try FileManager.default.contentsOfDirectory(atPath: store + "/layers"))
        #expect(unpacked == layers, "\(context): unpacked \(unpacked.sorted()), recorded \(layers.sorted())")
        #expect(try FileManager.default.contentsOfDirectory(atPath: store + "/tmp").isEmpty, "\(context): staging left")
        let sums = try ImageFixtures.sh("sha256sum -- *", in: store + "/blobs/sha256")
        for line in sums.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            #expect(parts.count == 2 && parts[0] == parts[1], "\(context): blob \(line)")
        }

        let destroyed = try box.run("destroy", "-p", box.project)
        #expect(destroyed.status == 0, "\(context): destroy: \(destroyed.stderr)")
        #expect(try !box.cgroups.exists("berth/\(box.project)"), "\(context): cgroup left")
    }

    /// The images recorded in the store's images.json (none when it was never written).
    static func records(_ store: String) throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: store + "/images.json") else { return [] }
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return doc["images"] as? [[String: Any]] ?? []
    }
}
