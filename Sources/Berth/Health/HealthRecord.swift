import BerthKernel
import FoundationEssentials

/// A container's health as its checks found it, in `health.json` in its state
/// directory (written by whoever runs the checks: `berth reconcile`, `apply --wait`).
public struct HealthRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// No check has passed yet (and not enough have failed).
        case starting
        case healthy
        /// `retries` checks in a row failed.
        case unhealthy
    }

    public var status: Status
    /// Failures in a row.
    public var failingStreak: Int
    /// The run (berth init) this state belongs to: a new run starts again at `starting`.
    public var run: ProcessIdentity
    /// The last results, oldest first (at most ``keep``).
    public var log: [HealthResult]
    /// When berth stopped the container for being unhealthy (seconds since the epoch).
    public var stoppedUnhealthyAt: Double?
    /// How that stop went (stop signal in time, or SIGKILL after stopTimeout).
    public var stop: StopRecord?

    public static let keep = 5
    static let fileName = "health.json"

    public init(run: ProcessIdentity) {
        status = .starting
        failingStreak = 0
        self.run = run
        log = []
    }

    static func path(_ stateDir: String) -> String { stateDir + "/" + fileName }

    static func read(stateDir: String) -> HealthRecord? {
        guard let data = FileManager.default.contents(atPath: path(stateDir)) else { return nil }
        return try? JSONDecoder().decode(HealthRecord.self, from: data)
    }

    /// `durable`: see ``AtomicFile/write(_:to:mode:durable:)``.
    func write(stateDir: String, durable: Bool = true) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try StateStore.writeAtomically(try encoder.encode(self), to: Self.path(stateDir), durable: durable)
    }
}

/// One check's result.
public struct HealthResult: Codable, Sendable, Equatable {
    /// Seconds since the epoch.
    public var start: Double
    public var end: Double
    /// nil when it was killed at its timeout (or killed by a signal).
    public var exitCode: Int32?
    public var timedOut: Bool
    /// The head of its output (at most 4 KiB).
    public var output: String
}
