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
        try NamespaceThread.run(path) {
            try NamespaceThread.join(fd.rawValue, nstype: CBERTH_CLONE_NEWUTS, path)
            guard cberth_sethostname(name, name.utf8.count) == 0 else {
                throw KernelError("sethostname \"\(name)\"", path, errno: Errno(rawValue: Glibc.errno))
            }
        }
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
        // One thread joins each namespace in turn (it ends when done, so may move freely).
        let names = try? NamespaceThread.run("read hostnames") {
            fds.map { fd -> String? in
                guard (try? NamespaceThread.join(fd, nstype: CBERTH_CLONE_NEWUTS, "uts namespace")) != nil else { return nil }
                return currentHostname()
            }
        }
        return names ?? Array(repeating: nil, count: fds.count)
    }

    /// The hostname of the calling thread's UTS namespace.
    static func currentHostname() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        buffer[buffer.count - 1] = 0
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
