import SystemPackage

/// A failed kernel operation: the step, the object it was done to, and the errno.
///
/// Prints as one readable line: `pivot_root(/var/lib/berth/x): Operation not permitted`.
public struct KernelError: Error, Sendable, CustomStringConvertible {
    /// What was attempted, e.g. `pivot_root` or `write memory.max`.
    public var operation: String
    /// The object it was attempted on (a path, an interface, a pid).
    public var object: String
    /// The errno, when the failure came from a syscall.
    public var errno: Errno?
    /// Extra words, when there is no errno or it needs context.
    public var detail: String?

    public init(_ operation: String, _ object: String, errno: Errno? = nil, detail: String? = nil) {
        self.operation = operation
        self.object = object
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var s = object.isEmpty ? operation : "\(operation)(\(object))"
        if let errno { s += ": \(errno.description)" }
        if let detail { s += errno == nil ? ": \(detail)" : " (\(detail))" }
        return s
    }
}
