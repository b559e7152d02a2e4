@testable import BerthRegistry
import BerthKernel
import Foundation
import Testing

/// A pull killed mid-way leaves temp files in the layout (a blob on its way in, an
/// index.json being replaced); the next pull's prepare removes exactly those of dead writers.
@Suite("OCI layout temporaries")
struct LayoutTemporaryTests {
    @Test func prepareRemovesTheTemporariesOfDeadWritersOnly() throws {
        let root = NSTemporaryDirectory() + "berth-layout-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = OCILayout(root: root)
        try layout.prepare()
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let pid = dead.processIdentifier
        let deadIndex = root + "/" + AtomicFile.temporaryName(for: "index.json", pid: pid)
        let deadBlob = layout.blobDirectory + "/" + AtomicFile.temporaryName(for: "ab12-7", pid: pid)
        let liveBlob = layout.blobDirectory + "/" + AtomicFile.temporaryName(for: "cd34-9", pid: getppid())
        for path in [deadIndex, deadBlob, liveBlob] { #expect(FileManager.default.createFile(atPath: path, contents: Data())) }
        try layout.prepare()
        #expect(!FileManager.default.fileExists(atPath: deadIndex), "a dead pull's index.json temp is left")
        #expect(!FileManager.default.fileExists(atPath: deadBlob), "a dead pull's blob temp is left")
        #expect(FileManager.default.fileExists(atPath: liveBlob), "a running pull's blob temp was removed")
        #expect(FileManager.default.fileExists(atPath: root + "/oci-layout"))
    }
}
