import CBerth
import Glibc

/// A compiled seccomp filter: classic BPF, as seccomp(2) takes it.
///
/// Built in the parent with libseccomp (``compile(_:capabilities:)``), carried to
/// berth init, which installs it with ``install()`` as the last step before execve.
public struct SeccompFilter: Sendable, Equatable, Hashable {
    /// `struct sock_filter` records, 8 bytes each.
    public var program: [UInt8]

    public var instructionCount: Int { program.count / 8 }

    public init(program: [UInt8]) { self.program = program }

    /// For the JSON that crosses into berth init.
    package var base64: String { Base64.encode(program) }

    package init?(base64: String) {
        guard let bytes = Base64.decode(base64), !bytes.isEmpty, bytes.count % 8 == 0 else { return nil }
        program = bytes
    }

    /// Installs the filter on the calling thread (irrevocably). Without no_new_privs
    /// the caller must hold CAP_SYS_ADMIN.
    package func install() throws {
        let result = program.withUnsafeBytes { cberth_seccomp_load($0.baseAddress, $0.count / 8) }
        guard result == 0 else { throw SeccompError.load(errno) }
    }
}
