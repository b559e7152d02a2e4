import Glibc
import SystemPackage

/// Reading processes back from /proc (BerthKernel), and the small file helpers the
/// runtime and berth init share (here, so that berth init has them).
public enum ProcFS {
    package static func openFile(
        _ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [],
        permissions: FilePermissions? = nil
    ) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(
                FilePath(path), mode, options: options.union(.closeOnExec), permissions: permissions)
        } catch let error as Errno {
            throw KernelError("open", path, errno: error)
        }
    }

    package static func readBytes(_ path: String) throws -> [UInt8] {
        let fd = try openFile(path, .readOnly)
        defer { try? fd.close() }
        return try readAll(fd, name: path)
    }

    package static func readText(_ path: String) throws -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// Reads until end of file.
    package static func readAll(_ fd: FileDescriptor, name: String) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n: Int
            do {
                n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
            } catch let error as Errno {
                throw KernelError("read", name, errno: error)
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    package static func writeFile(_ path: String, _ text: String) throws {
        let fd = try openFile(path, .writeOnly)
        defer { try? fd.close() }
        do {
            _ = try fd.writeAll(text.utf8)
        } catch let error as Errno {
            throw KernelError("write", path, errno: error, detail: text.count < 80 ? text : nil)
        }
    }
}
