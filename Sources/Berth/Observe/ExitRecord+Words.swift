import BerthKernel
import FoundationEssentials
import Glibc

extension ExitRecord {
    /// The signal that ended the command, if one did.
    public var signal: Int32? {
        if case .signaled(let s) = status { return s }
        return nil
    }

    /// Exit code 0.
    public var succeeded: Bool { status == .exited(0) }

    /// "exited with code 3 at 12:04:05", "killed by SIGKILL at 12:04:05".
    public var summary: String {
        let how: String
        switch status {
        case .exited(let code): how = "exited with code \(code)"
        case .signaled(let s) where oomKilled == true && s == SIGKILL: how = "killed by the OOM killer (SIGKILL)"
        case .signaled(let s): how = "killed by \(Signal.table.first { $0.1 == s }?.0 ?? "signal \(s)")"
        }
        return "\(how) at \(Self.clock(finishedAt))"
    }

    /// hh:mm:ss in local time.
    public static func clock(_ epoch: Double) -> String {
        var t = time_t(epoch)
        var tm = tm()
        localtime_r(&t, &tm)
        return Printf.string("%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}
