import BerthKernel
import FoundationEssentials

/// How berth stopped a container: by its `stopSignal` in time, or with SIGKILL of the
/// whole cgroup after `stopTimeout`. Kept in the container's record (for `berth status`)
/// and written to its log.
public struct StopRecord: Sendable, Codable, Equatable {
    public enum Reason: String, Sendable, Codable {
        case destroy, replace, unhealthy
    }

    public enum Outcome: String, Sendable, Codable {
        /// It exited after the stop signal, within the stop timeout.
        case stoppedInTime = "stopped-in-time"
        /// Still running at the timeout: killed with SIGKILL.
        case killed
    }

    public var reason: Reason
    public var outcome: Outcome
    /// The stop signal's name, e.g. SIGTERM.
    public var signal: String
    /// The stop timeout as written, e.g. 10s.
    public var timeout: String
    /// Seconds from the stop signal to the end.
    public var seconds: Double
    /// Seconds since the epoch.
    public var at: Double

    /// "stopped in time by SIGTERM (0.2s)", "killed with SIGKILL after stopTimeout 2s (SIGTERM ignored)".
    public var summary: String {
        switch outcome {
        case .stoppedInTime: "stopped in time by \(signal) (\(Self.seconds(seconds)))"
        case .killed: "killed with SIGKILL after stopTimeout \(timeout) (\(signal) did not stop it)"
        }
    }

    static func seconds(_ s: Double) -> String {
        let tenths = Int((s * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)s"
    }
}

extension Engine {
    /// Stops the container's init with its stop signal, then SIGKILL after its stop timeout;
    /// says which of the two ended it in its log. nil when it was not running.
    func stopInit(_ id: ProcessIdentity, project: String, name: String, spec: Container?,
                  reason: StopRecord.Reason) throws -> StopRecord? {
        let signal = spec?.stopSignal ?? .named("SIGTERM")!
        let timeout = spec?.stopTimeout.milliseconds ?? 10_000
        let began = ContinuousClock.now
        let outcome = try ContainerRuntime.stop(id, signal: signal.number, timeout: .milliseconds(timeout))
        guard outcome != .notRunning else { return nil }
        let elapsed = ContinuousClock.now - began
        let stop = StopRecord(reason: reason, outcome: outcome == .killed ? .killed : .stoppedInTime,
                              signal: signal.name, timeout: spec?.stopTimeout.text ?? "10s",
                              seconds: elapsed.fractionalSeconds,
                              at: Date().timeIntervalSince1970)
        // The log tells it too; a log that cannot take the line does not fail the stop.
        try? LogFiles.appendNote(stateDir: store.containerDirectory(project, name),
                                 "berth: \(reason.rawValue): \(stop.summary)")
        return stop
    }
}
