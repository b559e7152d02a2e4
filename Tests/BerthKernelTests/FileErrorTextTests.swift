import BerthKernel
import Foundation
import Testing

/// A file error of FoundationEssentials, as berth puts it into its messages: the system's reason.
@Suite("FileErrorText")
struct FileErrorTextTests {
    @Test func aFailedWriteReadsAsItsReason() throws {
        let missing = NSTemporaryDirectory() + "berth-nowhere-\(UInt32.random(in: 0...UInt32.max))/file"
        do {
            try "x".write(toFile: missing, atomically: true, encoding: .utf8)
            Issue.record("wrote into a directory that does not exist")
        } catch {
            #expect(FileErrorText.reason(error) == "No such file or directory", "\(error)")
        }
        struct Other: Error, CustomStringConvertible { var description: String { "other" } }
        #expect(FileErrorText.reason(Other()) == "other")
    }
}
