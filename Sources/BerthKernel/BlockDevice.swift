import Glibc

/// Block devices, as named by path in a spec's `io` limits.
public enum BlockDevice {
    /// The MAJ:MIN of a block device node; nil when the path is missing or not a block device.
    public static func number(of path: String) -> (major: UInt32, minor: UInt32)? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFBLK else { return nil }
        return split(UInt64(st.st_rdev))
    }

    /// glibc's major()/minor() are macros Swift cannot see: the same bit layout, written out.
    static func split(_ dev: UInt64) -> (major: UInt32, minor: UInt32) {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }
}
