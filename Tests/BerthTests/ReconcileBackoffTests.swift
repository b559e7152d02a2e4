@testable import Berth
import Testing

/// The restart backoff as a pure function: no root, no kernel.
@Suite struct ReconcileBackoffTests {
    @Test func firstRestartAtOnceThenTenSecondsDoublingToFiveMinutes() {
        let delays = (0...8).map { RestartBackoff.delay(failures: $0) }
        #expect(delays == [0, 10, 20, 40, 80, 160, 300, 300, 300])
        #expect(RestartBackoff.delay(failures: 1000) == 300)
    }

    @Test func tenMinutesOfRunningForgiveTheFailures() {
        #expect(RestartBackoff.failures(previous: 5, ranFor: 599) == 5)
        #expect(RestartBackoff.failures(previous: 5, ranFor: 600) == 0)
        #expect(RestartBackoff.failures(previous: 5, ranFor: nil) == 5)
    }

    @Test func durationsAreWrittenAsPeopleWriteThem() {
        #expect(Reconciler.format(1) == "1s")
        #expect(Reconciler.format(1.5) == "1.5s")
        #expect(Reconciler.format(300) == "5m")
        #expect(Reconciler.format(90) == "90s")
    }
}
