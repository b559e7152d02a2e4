import Glibc

/// How a container's command ended, as berth init records it in `exit.json`
/// in the container's state directory.
///
/// JSON: `{"exitCode": 3, "finishedAt": 1764082141.25}` or `{"signal": 9, "finishedAt": ...}`.
/// There is none while the command runs, and none when init itself was killed
/// (SIGKILL of the container's PID 1 ends every process in its PID namespace at once).
public struct ExitRecord: Codable, Sendable, Equatable {
    public var status: ProcessExitStatus
    /// Seconds after the Unix epoch (CLOCK_REALTIME).
    public var finishedAt: Double
    // operations
    /// The kernel's OOM killer ended the run (the cgroup's oom_kill count rose during it).
    /// berth init never knows this: berth sets it when it keeps the record of a run that ended.
    public var oomKilled: Bool? = nil

    public init(status: ProcessExitStatus, finishedAt: Double, oomKilled: Bool? = nil) {
        self.status = status
        self.finishedAt = finishedAt
        self.oomKilled = oomKilled
    }

    package static let fileName = "exit.json"

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec / 1_000_000) / 1000
    }

    private enum CodingKeys: String, CodingKey { case exitCode, signal, finishedAt, oomKilled }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        finishedAt = try c.decode(Double.self, forKey: .finishedAt)
        if let signal = try c.decodeIfPresent(Int32.self, forKey: .signal) {
            status = .signaled(signal)
        } else {
            status = .exited(try c.decode(Int32.self, forKey: .exitCode))
        }
        oomKilled = try c.decodeIfPresent(Bool.self, forKey: .oomKilled)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch status {
        case .exited(let code): try c.encode(code, forKey: .exitCode)
        case .signaled(let signal): try c.encode(signal, forKey: .signal)
        }
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encodeIfPresent(oomKilled, forKey: .oomKilled)
    }

    /// The record as berth init writes it (berth init has no JSONEncoder); the
    /// same keys as ``encode(to:)``, which berth uses when it keeps the record.
    var json: [UInt8] {
        var members: [(String, InitJSON.Value)] = []
        switch status {
        case .exited(let code): members.append(("exitCode", .number(Substring(String(code)))))
        case .signaled(let signal): members.append(("signal", .number(Substring(String(signal)))))
        }
        members.append(("finishedAt", .number(Substring(String(finishedAt)))))
        if let oomKilled { members.append(("oomKilled", .bool(oomKilled))) }
        return Array(InitJSON.Value.object(members).serialized.utf8)
    }
}
