import Glibc

/// Block devices, as named by path in a spec's `io` limits.
public enum BlockDevice {
    /// The MAJ:MIN of a block device node; nil when the path is missing or not a block device.
    public static func number(of path: String) -> (major: UInt32, minor: UInt32)? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFBLK else { return nil }
        return (gnu_dev_major(st.st_rdev), gnu_dev_minor(st.st_rdev))
    }
}
