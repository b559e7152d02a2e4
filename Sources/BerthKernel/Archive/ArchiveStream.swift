import CArchive
import Crypto
import Glibc
import SystemPackage

/// A tar stream read with libarchive, from a file that may be gzip, zstd or plain: the layer
/// compressions of the OCI image spec (and Docker's). Only these two filters are linked: berth
/// links libarchive statically, and every other filter would bring its library into each start.
///
/// Two libarchive readers are chained: the first only decompresses (format "raw"), the second
/// reads tar from the first's output through a callback. The callback sees every
/// uncompressed byte, which is what the image config's `rootfs.diff_ids` are the digest of,
/// and what a size budget must count (a tar bomb is small only before decompression).
final class ArchiveStream {
    private let raw: OpaquePointer
    private let tar: OpaquePointer
    private var buffer: UnsafeMutableRawBufferPointer
    private var hasher = SHA256()
    private(set) var uncompressedBytes: UInt64 = 0
    let budget: UInt64
    /// Set when the budget stops the stream (libarchive then reports only "read error").
    private(set) var overBudget = false
    private var rawEnded = false
    private var rawFailure: String?

    /// Opens `fd` (kept open by the caller until the stream is done).
    init(fd: Int32, budget: UInt64, what: String) throws(ArchiveError) {
        self.budget = budget
        buffer = .allocate(byteCount: 1 << 17, alignment: 16)
        raw = archive_read_new()
        tar = archive_read_new()
        // Every stored property is set from here on: a throw runs deinit, which frees both.
        archive_read_support_filter_gzip(raw)
        archive_read_support_filter_zstd(raw)
        archive_read_support_format_raw(raw)
        guard archive_read_open_fd(raw, fd, 1 << 17) == ARCHIVE_OK else {
            let message = ArchiveStream.message(raw)
            throw .malformed(entry: nil, detail: message)
        }
        var entry: OpaquePointer?
        let header = archive_read_next_header(raw, &entry)
        if header == ARCHIVE_EOF {
            rawEnded = true // an empty file: tar then reports what it reports
        } else if header != ARCHIVE_OK {
            let message = ArchiveStream.message(raw)
            throw .malformed(entry: nil, detail: message)
        }
        archive_read_support_format_tar(tar)
        let context = Unmanaged.passUnretained(self).toOpaque()
        let opened = archive_read_open(tar, context, nil, { _, context, out in
            let stream = Unmanaged<ArchiveStream>.fromOpaque(context!).takeUnretainedValue()
            return stream.pull(out!)
        }, nil)
        guard opened == ARCHIVE_OK else {
            let message = rawFailure ?? ArchiveStream.message(tar)
            throw overBudget ? .tooLarge(limit: budget) : .malformed(entry: nil, detail: message)
        }
    }

    deinit {
        archive_read_free(tar)
        archive_read_free(raw)
        buffer.deallocate()
    }

    /// The tar reader's read callback: decompressed bytes, hashed and counted.
    private func pull(_ out: UnsafeMutablePointer<UnsafeRawPointer?>) -> la_ssize_t {
        if rawEnded { return 0 }
        let n = archive_read_data(raw, buffer.baseAddress, buffer.count)
        if n < 0 {
            // libarchive's own message for the tar reader would only say "read error".
            rawFailure = ArchiveStream.message(raw)
            return -1
        }
        if n == 0 {
            rawEnded = true
            return 0
        }
        uncompressedBytes += UInt64(n)
        if uncompressedBytes > budget {
            overBudget = true
            return -1
        }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        out.pointee = UnsafeRawPointer(buffer.baseAddress)
        return n
    }

    /// The next entry, nil at the end of the archive.
    func next() throws(ArchiveError) -> OpaquePointer? {
        var entry: OpaquePointer?
        let r = archive_read_next_header(tar, &entry)
        if r == ARCHIVE_EOF { return nil }
        if r == ARCHIVE_OK || r == ARCHIVE_WARN { return entry }
        throw failure(entry: nil)
    }

    /// The next block of the current entry's data: (bytes, offset in the file), nil at its end.
    func dataBlock() throws(ArchiveError) -> (UnsafeRawBufferPointer, Int64)? {
        var block: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        let r = archive_read_data_block(tar, &block, &size, &offset)
        if r == ARCHIVE_EOF { return nil }
        guard r == ARCHIVE_OK || r == ARCHIVE_WARN else { throw failure(entry: nil) }
        return (UnsafeRawBufferPointer(start: block, count: size), offset)
    }

    /// Reads the rest of the decompressed stream (the zero blocks after the end of the tar,
    /// which are part of the digest) and returns the digest of all of it.
    func finish() throws(ArchiveError) -> String {
        var out: UnsafeRawPointer?
        while !rawEnded {
            if pull(&out) < 0 { throw failure(entry: nil) }
        }
        return "sha256:" + hasher.finalize().map { hexByte($0) }.joined()
    }

    func failure(entry: String?) -> ArchiveError {
        if overBudget { return .tooLarge(limit: budget) }
        return .malformed(entry: entry, detail: rawFailure ?? ArchiveStream.message(tar))
    }

    static func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unreadable archive"
    }
}

func hexByte(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}

/// Why an archive or a layer could not be read or applied. Each case names the entry (as
/// written in the tar) where there is one; the image store adds the image and the layer.
public enum ArchiveError: Error, Sendable, CustomStringConvertible {
    /// An absolute name, or one with a `..` component.
    case unsafeName(entry: String)
    /// An entry that would replace the layer's root directory with something else.
    case replacesRoot(entry: String)
    /// An entry whose parent path goes through a symbolic link (planted by an earlier entry).
    case throughSymlink(entry: String)
    /// A hard link whose target is outside the layer or not an earlier file of it.
    case badHardlink(entry: String, target: String)
    /// More uncompressed bytes than the budget allows.
    case tooLarge(limit: UInt64)
    /// More entries than the budget allows.
    case tooManyEntries(limit: Int)
    /// libarchive could not read it: a truncated stream, a bad header, an unknown compression.
    case malformed(entry: String?, detail: String)
    /// A syscall failed while the entry was applied.
    case system(entry: String?, KernelError)

    public var description: String {
        func at(_ e: String?) -> String { e.map { "entry \(quotedName($0)): " } ?? "" }
        switch self {
        case .unsafeName(let e): return "\(at(e))absolute names and '..' are not allowed in a layer"
        case .replacesRoot(let e): return "\(at(e))replaces the layer's root directory"
        case .throughSymlink(let e): return "\(at(e))its path goes through a symbolic link"
        case .badHardlink(let e, let t): return "\(at(e))hard link to \(quotedName(t)), which is not an earlier file of this layer"
        case .tooLarge(let limit): return "more than \(limit) bytes uncompressed (the size budget)"
        case .tooManyEntries(let limit): return "more than \(limit) entries (the entry budget)"
        case .malformed(let e, let d): return "\(at(e))\(d)"
        case .system(let e, let k): return "\(at(e))\(k)"
        }
    }
}

func quotedName(_ s: String) -> String { "\"\(s)\"" }

/// The entries of a tar file (compressed or not), for the importers of image archives: they
/// read names and contents and create nothing from the names.
public final class TarReader {
    private let fd: Int32
    private let stream: ArchiveStream
    private var current: OpaquePointer?

    public init(path: String, budget: UInt64 = LayerBudget().bytes) throws(ArchiveError) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(entry: nil, KernelError("open", path, errno: Errno(rawValue: errno))) }
        do {
            stream = try ArchiveStream(fd: fd, budget: budget, what: path)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// One entry: its name as written, and whether it is a regular file with data.
    public struct Entry: Sendable {
        public var name: String
        public var isRegularFile: Bool
        public var size: Int64
    }

    /// The next entry, nil at the end.
    public func next() throws(ArchiveError) -> Entry? {
        guard let entry = try stream.next() else { return nil }
        current = entry
        let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        return Entry(name: name, isRegularFile: archive_entry_filetype(entry) == CARCHIVE_IFREG && archive_entry_hardlink(entry) == nil,
                     size: archive_entry_size(entry))
    }

    /// Calls `body` with each block of the current entry's data, in order.
    public func forEachBlock(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var expected: Int64 = 0
        while let (block, offset) = try stream.dataBlock() {
            // Holes of a sparse entry: zeros, so that a digest sees what a reader would.
            if offset > expected {
                let zeros = [UInt8](repeating: 0, count: Int(offset - expected))
                try zeros.withUnsafeBytes(body)
            }
            try body(block)
            expected = offset + Int64(block.count)
        }
    }
}

extension KernelError {
    /// The failure of a syscall that just set `errno`, for callers outside the kernel layer
    /// that do not speak swift-system (the image store).
    package static func lastError(_ operation: String, _ object: String) -> KernelError {
        KernelError(operation, object, errno: Errno(rawValue: Glibc.errno))
    }
}
