import CBerth
import Glibc
import SystemPackage

/// Work done inside another process's namespaces without moving the caller.
///
/// setns(2) and unshare(2) change only the calling thread, and a thread that changed
/// namespace must never go back to a pool (Dispatch's, Swift concurrency's) where other
/// work would run in the wrong namespace. So the work gets a pthread of its own, which
/// the caller joins, and which ends with it. The one home of that pattern: network
/// namespaces (sockets made inside one), hostnames of UTS namespaces.
package enum NamespaceThread {
    /// Runs `body` on a fresh pthread and waits for it; its result or error is the caller's.
    /// `label` names the work in the error when no thread can be made.
    package static func run<T>(_ label: String, _ body: () throws -> T) throws -> T {
        var result: Result<T, any Error>?
        try withoutActuallyEscaping({ result = Result { try body() } }) { work in
            let context = Unmanaged.passRetained(ThreadWork(work))
            var thread = pthread_t()
            let created = pthread_create(&thread, nil, { raw in
                Unmanaged<ThreadWork>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, context.toOpaque())
            guard created == 0 else {
                context.release()
                throw KernelError("pthread_create", label, errno: Errno(rawValue: created))
            }
            pthread_join(thread, nil)
        }
        return try result!.get()
    }

    /// Joins the namespace open at `fd` (an nsfs file, or a pidfd since Linux 5.8) on the
    /// calling thread, which must be one of ``run(_:_:)``. `nstype` is a CLONE_NEW* flag.
    package static func join(_ fd: Int32, nstype: Int32, _ label: String) throws {
        guard cberth_setns(fd, nstype) == 0 else {
            throw KernelError("setns", label, errno: Errno(rawValue: Glibc.errno))
        }
    }
}

/// The closure a namespace thread runs; passed through pthread_create's `void *`
/// argument. The creating thread waits in pthread_join, so the closure's captures are
/// never used from two threads at once.
private final class ThreadWork {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
