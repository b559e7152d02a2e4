import SystemPackage

/// Which seccomp filter a container's processes run under.
public enum SeccompPolicy: Codable, Sendable, Equatable, Hashable {
    /// No filter at all.
    case unconfined
    /// berth's profile, `profiles/seccomp/default.json`, embedded in the binary.
    case `default`
    /// A profile in the Docker/OCI JSON format, as its text.
    case profile(String)
}

/// Why a seccomp filter could not be built or installed.
public enum SeccompError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON does not decode as a profile.
    case malformedProfile(String)
    case unknownAction(String)
    case unknownOperator(String)
    case unknownArchitecture(String)
    /// An argument index past the six a system call has.
    case argumentIndex(UInt32)
    /// A libseccomp call failed (its return value is a negated errno).
    case libseccomp(String, Int32)
    /// seccomp(2) refused the filter in berth init.
    case load(Int32)

    public var description: String {
        switch self {
        case .malformedProfile(let what): "seccomp profile: \(what)"
        case .unknownAction(let name): "seccomp profile: unknown action \"\(name)\""
        case .unknownOperator(let name): "seccomp profile: unknown operator \"\(name)\""
        case .unknownArchitecture(let name): "seccomp profile: unknown architecture \"\(name)\""
        case .argumentIndex(let index): "seccomp profile: argument index \(index) is not 0...5"
        case .libseccomp(let call, let code): "\(call): \(Errno(rawValue: -code).description)"
        case .load(let code): "seccomp(SECCOMP_SET_MODE_FILTER): \(Errno(rawValue: code).description)"
        }
    }
}
