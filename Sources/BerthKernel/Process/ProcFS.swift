import CBerth
import Glibc
import SystemPackage

/// A process named by its pid *and* its start time, so that a reused pid is
/// never mistaken for it.
public struct ProcessIdentity: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// In the host's (berth's) PID namespace.
    public var pid: Int32
    /// Clock ticks after boot: field 22 of `/proc/PID/stat`.
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// The identity of the process that has `pid` now.
    public static func read(pid: Int32) throws -> ProcessIdentity {
        try ProcFS.snapshot(pid: pid).identity
    }

    /// True while this very process exists and has not exited (a zombie has exited).
    public var isAlive: Bool {
        // /proc/PID/stat alone: the NSpid line of status is not needed to tell.
        guard let now = try? ProcFS.statLine(pid: pid) else { return false }
        return now.identity == self && now.state != .zombie && now.state != .dead
    }

    public var description: String { "pid \(pid) (start \(startTime))" }
}

/// The state letter of `/proc/PID/stat`.
public enum ProcessState: Sendable, Equatable, Hashable {
    case running, sleeping, diskSleep, zombie, stopped, tracingStop, dead, idle
    case other(Character)

    init(_ letter: Character) {
        switch letter {
        case "R": self = .running
        case "S": self = .sleeping
        case "D": self = .diskSleep
        case "Z": self = .zombie
        case "T": self = .stopped
        case "t": self = .tracingStop
        case "X", "x": self = .dead
        case "I": self = .idle
        default: self = .other(letter)
        }
    }
}

/// What `/proc/PID/stat` and `/proc/PID/status` say about one process.
public struct ProcessSnapshot: Sendable, Equatable {
    public var identity: ProcessIdentity
    public var state: ProcessState
    /// In the host's PID namespace; 0 when the parent is outside it.
    public var parentPID: Int32
    /// The command name (`comm`), at most 15 bytes.
    public var name: String
    /// `NSpid`: the pid in each nested PID namespace, the host's first, the innermost last.
    public var namespacePIDs: [Int32]
}

/// Reading processes back from /proc.
extension ProcFS {
    /// State, parent, name and pids of a process.
    public static func snapshot(pid: Int32) throws -> ProcessSnapshot {
        let (identity, state, ppid, name) = try statLine(pid: pid)
        var nspids = [pid]
        if let status = try? readText("/proc/\(pid)/status") {
            for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
                nspids = line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int32($0) }
            }
        }
        return ProcessSnapshot(identity: identity, state: state, parentPID: ppid, name: name, namespacePIDs: nspids)
    }

    /// Identity, state, parent and name of a process: `/proc/PID/stat` alone.
    static func statLine(pid: Int32) throws -> (identity: ProcessIdentity, state: ProcessState, parentPID: Int32, name: String) {
        let stat = try readText("/proc/\(pid)/stat")
        // The name is in parentheses and may itself hold spaces and parentheses.
        guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else {
            throw KernelError("parse", "/proc/\(pid)/stat", detail: "no command name")
        }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state) of proc(5); starttime is field 22.
        guard fields.count > 19, let letter = fields[0].first, let ppid = Int32(fields[1]),
            let start = UInt64(fields[19])
        else {
            throw KernelError("parse", "/proc/\(pid)/stat", detail: "too few fields")
        }
        return (ProcessIdentity(pid: pid, startTime: start), ProcessState(letter), ppid, name)
    }

    /// The arguments of a process (empty for a zombie or a kernel thread).
    public static func commandLine(pid: Int32) throws -> [String] {
        let bytes = try readBytes("/proc/\(pid)/cmdline")
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast(bytes.last == 0 ? 1 : 0)
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// The inode of each namespace of a process (`/proc/PID/ns/*`): equal inodes
    /// (on the same nsfs) mean the same namespace.
    public static func namespaceInodes(pid: Int32) throws -> [NamespaceKind: UInt64] {
        var result: [NamespaceKind: UInt64] = [:]
        for kind in NamespaceKind.allCases {
            let path = "/proc/\(pid)/ns/\(kind.procName)"
            var st = stat()
            guard stat(path, &st) == 0 else {
                // A kernel without this kind of namespace has no file for it.
                if Errno(rawValue: errno) == .noSuchFileOrDirectory, kind == .cgroup { continue }
                throw KernelError("stat", path, errno: Errno(rawValue: errno))
            }
            result[kind] = UInt64(st.st_ino)
        }
        return result
    }

    /// The namespaces of `id`, checked to still be that process afterwards.
    public static func namespaceInodes(of id: ProcessIdentity) throws -> [NamespaceKind: UInt64] {
        let inodes = try namespaceInodes(pid: id.pid)
        try verify(id)
        return inodes
    }

    /// The hostname as seen inside the UTS namespace of `id`.
    public static func hostname(of id: ProcessIdentity) throws -> String {
        let path = "/proc/\(id.pid)/ns/uts"
        let fd = try openFile(path, .readOnly)
        defer { try? fd.close() }
        try verify(id)
        return try NamespaceThread.run(path) {
            try NamespaceThread.join(fd.rawValue, nstype: CBERTH_CLONE_NEWUTS, path)
            guard let name = Self.currentHostname() else {
                throw KernelError("gethostname", path, errno: Errno(rawValue: Glibc.errno))
            }
            return name
        }
    }

    /// Throws unless `id` is still the process with that pid.
    static func verify(_ id: ProcessIdentity) throws {
        let now = try? statLine(pid: id.pid).identity
        guard now == id else {
            throw KernelError("find process", String(id.pid), errno: .noSuchProcess, detail: "it has exited")
        }
    }
}
