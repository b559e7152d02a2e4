import Glibc

/// Where `berth-init`, the executable every container runs as its init, is found.
///
/// berth ships as two binaries side by side: `berth` (the CLI and engine, large: Foundation,
/// TLS, HTTP) and `berth-init` (the container side, small). Each container's PID 1 keeps
/// berth-init's dirty pages for its whole life, so it is its own small executable rather
/// than the big one re-executed.
public enum InitExecutable {
    public static let fileName = "berth-init"

    /// `berth-init` beside the real path of the running executable (`make install` puts
    /// both in the same directory; `swift build` too). Resolved once, so that a binary
    /// replaced on disk while berth runs does not change under it.
    public static let path: String = beside(executable: "/proc/self/exe")

    /// `berth-init` in the directory of `executable`'s real path.
    public static func beside(executable: String) -> String {
        guard let real = realpath(executable, nil) else { return fileName }
        defer { free(real) }
        let full = String(cString: real)
        guard let slash = full.lastIndex(of: "/") else { return fileName }
        return String(full[...slash]) + fileName
    }
}
