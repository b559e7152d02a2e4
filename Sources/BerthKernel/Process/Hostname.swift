import CBerth
import Glibc
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

extension ProcFS {
    /// The hostnames of many processes' UTS namespaces, read by one short-lived thread
    /// that joins each namespace in turn (rather than a thread per process). A process
    /// that is gone, or whose namespace cannot be read, is left out.
    public static func hostnames(of ids: [ProcessIdentity]) -> [ProcessIdentity: String] {
        var opened: [(ProcessIdentity, FileDescriptor)] = []
        defer { for (_, fd) in opened { try? fd.close() } }
        for id in ids {
            guard let fd = try? openFile("/proc/\(id.pid)/ns/uts", .readOnly) else { continue }
            // The file opened is this process's namespace only if the pid was not reused.
            guard (try? verify(id)) != nil else {
                try? fd.close()
                continue
            }
            opened.append((id, fd))
        }
        let names = hostnames(inNamespaces: opened.map { $0.1.rawValue })
        var out: [ProcessIdentity: String] = [:]
        for (i, (id, _)) in opened.enumerated() {
            if let name = names[i] { out[id] = name }
        }
        return out
    }

    /// The hostname in each UTS namespace behind `fds` (nsfs files or pidfds, which
    /// setns(2) takes since Linux 5.8); nil where it could not be joined.
    package static func hostnames(inNamespaces fds: [Int32]) -> [String?] {
        guard !fds.isEmpty else { return [] }
        let job = HostnameJob(fds: fds)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(job).toOpaque()
        guard pthread_create(&thread, nil, { raw in
            let job = Unmanaged<HostnameJob>.fromOpaque(raw!).takeRetainedValue()
            job.run()
            return nil
        }, context) == 0 else {
            Unmanaged<HostnameJob>.fromOpaque(context).release()
            return Array(repeating: nil, count: fds.count)
        }
        pthread_join(thread, nil)
        return job.names
    }
}

/// The work of the thread that reads hostnames: it may change its own UTS namespace
/// freely, since it ends when done.
private final class HostnameJob: @unchecked Sendable {
    let fds: [Int32]
    var names: [String?]

    init(fds: [Int32]) {
        self.fds = fds
        names = Array(repeating: nil, count: fds.count)
    }

    func run() {
        var buffer = [CChar](repeating: 0, count: 256)
        for (i, fd) in fds.enumerated() {
            guard cberth_setns(fd, Int32(CBERTH_CLONE_NEWUTS)) == 0 else { continue }
            guard gethostname(&buffer, buffer.count - 1) == 0 else { continue }
            buffer[buffer.count - 1] = 0
            names[i] = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
