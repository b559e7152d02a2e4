#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Emptying a cgroup by signals, for kernels without cgroup.kill (v1, and v2 before 5.14).
struct CgroupKiller {
    /// The pids in the cgroup and its descendants, now.
    var members: () throws -> [Int32]
    /// Stops every process in place, so that none can fork between the read of
    /// the pids and the kill; returns when frozen or after a short bound.
    var freeze: (() throws -> Void)?
    var thaw: (() throws -> Void)?

    /// Freezes, SIGKILLs every member, thaws, and repeats until none is left.
    func run(path: String, timeout: Duration) throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            var pids = try members()
            if pids.isEmpty { return }
            try freeze?()
            var failure: Error?
            do {
                // Re-read after freezing: a member may have forked while the freeze took hold.
                pids = try members()
                for pid in pids {
                    do { try CgroupFS.sendSignal(SIGKILL, to: pid) } catch { failure = failure ?? error }
                }
            } catch {
                failure = error
            }
            // A frozen process dies only once thawed, so thaw whatever happened above.
            try thaw?()
            if let failure { throw failure }
            let roundEnd = min(deadline, ContinuousClock.now.advanced(by: .milliseconds(500)))
            if try CgroupFS.poll(until: roundEnd, { try members().isEmpty }) { return }
            if ContinuousClock.now >= deadline {
                let left = try members()
                if left.isEmpty { return }
                throw KernelError(
                    "kill all processes in \(path)", "",
                    detail: "\(left.count) still there after \(timeout): \(left.prefix(10).map(String.init).joined(separator: " "))")
            }
        }
    }
}
