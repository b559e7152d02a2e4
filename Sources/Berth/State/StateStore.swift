import BerthKernel
import Foundation
import Glibc

/// berth's own records, under a state directory (default /var/lib/berth):
///
/// ```
/// <root>/<project>/lock                          serialises applies and reconcilers
/// <root>/<project>/containers/<name>/record.json what was applied (ContainerRecord)
/// <root>/<project>/containers/<name>/container.log
/// <root>/<project>/containers/<name>/exit.json   written by berth init
/// <root>/<project>/volumes/<name>/data           a named volume (see VolumeStore)
/// ```
///
/// Only what the kernel cannot tell lives here. Every write is atomic (temp file,
/// fsync, rename, fsync of the directory). Reading never creates anything, so
/// `plan` and `status` leave no trace.
public struct StateStore: Sendable {
    public var root: String

    public static let defaultRoot = "/var/lib/berth"

    public init(root: String = StateStore.defaultRoot) {
        self.root = root
    }

    public func projectDirectory(_ project: String) -> String { "\(root)/\(project)" }
    public func containerDirectory(_ project: String, _ name: String) -> String {
        "\(root)/\(project)/containers/\(name)"
    }

    /// Projects that have a directory here.
    public func projects() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
            !$0.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(root)/\($0)/containers")
        }.sorted()
    }

    public func records(_ project: String) throws -> ProjectRecords {
        let dir = "\(projectDirectory(project))/containers"
        var out = ProjectRecords(networks: try networkRecords(project))
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names where !name.hasPrefix(".") {
            let path = "\(dir)/\(name)/record.json"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do {
                out.containers[name] = try JSONDecoder().decode(ContainerRecord.self, from: data)
            } catch {
                throw StateError("read \(path)", "\(error)")
            }
        }
        return out
    }

    public func write(_ record: ContainerRecord, project: String) throws {
        let dir = containerDirectory(project, record.spec.name)
        try Self.makeDirectories(dir)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Self.writeAtomically(try encoder.encode(record), to: "\(dir)/record.json")
    }

    /// Removes a container's records, log and exit status.
    public func removeContainer(project: String, name: String) throws {
        let dir = containerDirectory(project, name)
        guard FileManager.default.fileExists(atPath: dir) else { return }
        do { try FileManager.default.removeItem(atPath: dir) } catch { throw StateError("remove \(dir)", "\(error)") }
    }

    /// Removes the project's directory once no container, network or volume is left in it.
    public func removeProjectIfEmpty(_ project: String) {
        let dir = projectDirectory(project)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/containers")) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/networks")) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/volumes")) ?? [])
        guard left.isEmpty else { return }
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func makeDirectories(_ path: String) throws {
        do {
            // Search-only for others: a container's root in a user namespace must reach its
            // own directory (its /etc/hosts, its exit record) without being able to list ours.
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o711])
        } catch {
            throw StateError("create \(path)", "\(error)")
        }
    }

    /// temp file in the same directory, fsync, rename over the target, fsync the directory.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = "\(dir)/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError("create \(tmp)", String(cString: strerror(errno))) }
        var ok = data.withUnsafeBytes { buf -> Bool in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let err = errno
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let e = ok ? errno : err
            unlink(tmp)
            throw StateError("write \(path)", String(cString: strerror(e)))
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

/// A failure reading or writing berth's own records.
public struct StateError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var detail: String
    public init(_ operation: String, _ detail: String) {
        self.operation = operation
        self.detail = detail
    }
    public var description: String { "\(operation): \(detail)" }
}
