import CBerth
import SystemPackage

extension ProcFS {
    /// Sets the hostname inside the UTS namespace of a running process (a live
    /// container's hostname changes in place, without a restart).
    public static func setHostname(_ name: String, of id: ProcessIdentity) throws {
        let path = "/proc/\(id.pid)/ns/uts"
        let fd = try openFile(path, .readOnly)
        defer { try? fd.close() }
        try verify(id)
        let rc = name.withCString { cberth_sethostname_in(fd.rawValue, $0, name.utf8.count) }
        guard rc == 0 else { throw KernelError("setns(uts) and sethostname \"\(name)\"", path, errno: Errno(rawValue: -rc)) }
    }
}
