/// How much of a container's output berth keeps (`logging:`): rotation is on by default.
public struct Logging: Sendable, Equatable, Codable {
    /// Bytes per log file before it is rotated; 0: one file without bound. Default 10Mi.
    public var maxSize: ByteSize
    /// Files kept, the current one included, at least 1. Default 3.
    public var maxFiles: Int

    public init(maxSize: ByteSize = Logging.standard.maxSize, maxFiles: Int = Logging.standard.maxFiles) {
        self.maxSize = maxSize
        self.maxFiles = maxFiles
    }

    /// 10Mi x 3 files.
    public static let standard = Logging(maxSize: ByteSize(bytes: 10 << 20, text: "10Mi"), maxFiles: 3)
    /// Below this a file would not hold a line of a few KiB.
    public static let minimumSize: UInt64 = 4 << 10
}
