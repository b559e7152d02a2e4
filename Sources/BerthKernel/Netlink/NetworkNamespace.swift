import CBerth
import Glibc
import SystemPackage

/// A network namespace, held open by a file descriptor on its nsfs file
/// (`/proc/PID/ns/net`, a `/run/netns/NAME` bind mount, or one made by
/// ``create(label:)``).
///
/// The namespace lives at least as long as the descriptor (and as long as
/// any socket made in it). The descriptor is the caller's to close.
public struct NetworkNamespace: Sendable, CustomStringConvertible {
    /// The open nsfs file (`O_RDONLY | O_CLOEXEC`).
    public let descriptor: FileDescriptor
    /// What errors call it: the path it was opened from, or a label.
    public let label: String

    public init(descriptor: FileDescriptor, label: String) {
        self.descriptor = descriptor
        self.label = label
    }

    /// Opens the namespace at `path`, e.g. `/proc/1234/ns/net`.
    public static func open(_ path: String) throws -> NetworkNamespace {
        do {
            let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
            return NetworkNamespace(descriptor: fd, label: path)
        } catch let error as Errno {
            throw KernelError("open network namespace", path, errno: error)
        }
    }

    /// Creates a new, empty network namespace (only a loopback, down) and
    /// returns it held by a descriptor, without moving the calling thread:
    /// a short-lived thread unshares and opens `/proc/thread-self/ns/net`.
    /// No file names it; it goes away when the descriptor (and every socket
    /// made in it) is closed, so a crashed owner leaks nothing.
    public static func create(label: String = "new network namespace") throws -> NetworkNamespace {
        try NamespaceThread.run(label) {
            guard cberth_unshare(CBERTH_CLONE_NEWNET) == 0 else {
                throw KernelError("unshare(CLONE_NEWNET)", label, errno: Errno(rawValue: Glibc.errno))
            }
            do {
                let fd = try FileDescriptor.open("/proc/thread-self/ns/net", .readOnly, options: [.closeOnExec])
                return NetworkNamespace(descriptor: fd, label: label)
            } catch let error as Errno {
                throw KernelError("open", "/proc/thread-self/ns/net", errno: error)
            }
        }
    }

    /// Closes the descriptor.
    public func close() throws {
        do {
            try descriptor.close()
        } catch let error as Errno {
            throw KernelError("close network namespace", label, errno: error)
        }
    }

    /// Runs `body` on a new thread that has entered this namespace, and
    /// waits for it. The calling thread never changes namespace.
    ///
    /// Anything `body` creates that is bound to a network namespace at
    /// creation (sockets) stays in this one. The thread exits afterwards
    /// rather than return to a pool in the wrong namespace.
    public func perform<T>(_ body: () throws -> T) throws -> T {
        try NamespaceThread.run(label) {
            try NamespaceThread.join(descriptor.rawValue, nstype: CBERTH_CLONE_NEWNET, label)
            return try body()
        }
    }

    public var description: String { label }
}
