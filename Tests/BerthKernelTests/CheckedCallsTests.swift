import BerthKernel
import Glibc
import Testing

/// Calls on security paths are checked: a failure is an error naming the step,
/// never a silent step down.
@Suite struct CheckedCallsTests {
    @Test func aSignalThatCannotBeCaughtIsAnErrorNamingSigaction() {
        do {
            try SignalPipe.shared.listen(to: [SIGKILL])
            Issue.record("SIGKILL was routed to the signal pipe")
        } catch let error as KernelError {
            #expect(error.operation == "sigaction")
            #expect(error.object == "signal \(SIGKILL)")
            #expect(error.errno == .invalidArgument)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
