#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import FoundationEssentials
#endif
import CBerth
import SystemPackage

extension SeccompPolicy {
    /// The profile's JSON bytes; nil for ``unconfined``.
    var profileBytes: [UInt8]? {
        switch self {
        case .unconfined: nil
        case .default: SeccompProfile.defaultProfileBytes
        case .profile(let text): Array(text.utf8)
        }
    }
}

/// A seccomp profile in the format Docker and the OCI runtime spec use
/// (`defaultAction`, `syscalls: [{names, action, args, includes, excludes}]`).
///
/// Rules gated by `includes.caps` apply only when the container holds every one of
/// those capabilities, rules with `excludes.caps` only when it holds none of them,
/// `arches` are Go's names of the machine (`amd64`, `arm64`...), `minKernel` is
/// compared with the running kernel: the same reading as moby's.
public struct SeccompProfile: Decodable, Sendable, Equatable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    /// OCI form: the architectures of the filter, e.g. `SCMP_ARCH_X86_64`.
    public var architectures: [String]?
    /// Docker form: for the native architecture, the others to add.
    public var archMap: [ArchMapping]?
    public var syscalls: [Rule]?

    public struct ArchMapping: Decodable, Sendable, Equatable {
        public var architecture: String
        public var subArchitectures: [String]?
    }

    public struct Rule: Decodable, Sendable, Equatable {
        public var names: [String]?
        /// The old one-name form.
        public var name: String?
        public var action: String
        public var errnoRet: UInt32?
        public var args: [Argument]?
        public var includes: Filter?
        public var excludes: Filter?
        public var comment: String?

        var allNames: [String] { (names ?? []) + (name.map { [$0] } ?? []) }
    }

    public struct Argument: Decodable, Sendable, Equatable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
    }

    public struct Filter: Decodable, Sendable, Equatable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
    }

    /// The actions a profile may name.
    public static let actions = [
        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG",
    ]
    /// The comparison operators of `args`.
    public static let operators = [
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ]

    /// Decodes a profile; the error says what is wrong and where (as a JSON path).
    public static func decode(_ bytes: [UInt8]) throws -> SeccompProfile {
        do {
            return try JSONDecoder().decode(SeccompProfile.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw SeccompError.malformedProfile(Self.describe(error))
        }
    }

    /// berth's default profile, as embedded in the binary.
    public static let defaultProfileBytes: [UInt8] = {
        var length = 0
        let text = cberth_default_seccomp_profile(&length)!
        return Array(UnsafeRawBufferPointer(start: text, count: length))
    }()

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "the document" : String(p.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)): missing \"\(key.stringValue)\""
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), found null"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
