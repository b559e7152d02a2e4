import Glibc

/// Which output of the command a log line came from.
public enum LogStream: String, Sendable, Codable, CaseIterable {
    case stdout, stderr
}

/// A moment as the log records it: seconds and nanoseconds after the Unix epoch (UTC).
public struct LogTime: Sendable, Equatable, Comparable, Hashable {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// CLOCK_REALTIME now.
    public static func now() -> LogTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return LogTime(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec))
    }

    public init(_ secondsSinceEpoch: Double) {
        let whole = secondsSinceEpoch.rounded(.down)
        self.init(seconds: Int64(whole), nanoseconds: Int32(((secondsSinceEpoch - whole) * 1e9).rounded(.down)))
    }

    public var secondsSinceEpoch: Double { Double(seconds) + Double(nanoseconds) / 1e9 }

    public static func < (a: LogTime, b: LogTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }

    /// RFC 3339 in UTC with nanoseconds, always 30 bytes: `2026-12-01T20:54:54.123456789Z`.
    public var rfc3339: String { String(decoding: bytes, as: UTF8.self) }

    package var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: LogTime.width) { buffer, count in
            render(into: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = LogTime.width
        }
    }

    /// Writes the ``width`` bytes of ``rfc3339`` at `out`.
    package func render(into out: UnsafeMutableRawPointer) {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        var at = 0
        func digits(_ value: Int, _ count: Int, then separator: UInt8) {
            var v = value
            for i in stride(from: count - 1, through: 0, by: -1) {
                out.storeBytes(of: UInt8(ascii: "0") + UInt8(v % 10), toByteOffset: at + i, as: UInt8.self)
                v /= 10
            }
            out.storeBytes(of: separator, toByteOffset: at + count, as: UInt8.self)
            at += count + 1
        }
        digits(Int(tm.tm_year) + 1900, 4, then: UInt8(ascii: "-"))
        digits(Int(tm.tm_mon) + 1, 2, then: UInt8(ascii: "-"))
        digits(Int(tm.tm_mday), 2, then: UInt8(ascii: "T"))
        digits(Int(tm.tm_hour), 2, then: UInt8(ascii: ":"))
        digits(Int(tm.tm_min), 2, then: UInt8(ascii: ":"))
        digits(Int(tm.tm_sec), 2, then: UInt8(ascii: "."))
        digits(Int(nanoseconds), 9, then: UInt8(ascii: "Z"))
    }

    package static let width = 30

    /// Parses exactly the form ``rfc3339`` writes.
    package init?(bytes: ArraySlice<UInt8>) {
        guard bytes.count == LogTime.width else { return nil }
        let b = Array(bytes)
        func number(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return v
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."),
              b[29] == UInt8(ascii: "Z"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              let nanos = number(20, 9) else { return nil }
        var tm = tm()
        tm.tm_year = Int32(year - 1900)
        tm.tm_mon = Int32(month - 1)
        tm.tm_mday = Int32(day)
        tm.tm_hour = Int32(hour)
        tm.tm_min = Int32(minute)
        tm.tm_sec = Int32(second)
        self.init(seconds: Int64(timegm(&tm)), nanoseconds: Int32(nanos))
    }
}

/// One line of a container's log.
///
/// On disk each entry is one line in the CRI logging format (the one conmon and
/// the kubelet write): `<RFC 3339 time> <stdout|stderr> <F|P> <bytes>\n`, where `P`
/// marks a piece of a line that was longer than the relay holds (or that had no
/// end yet when the command exited) and `F` the line's last piece.
public struct LogEntry: Sendable, Equatable {
    public var time: LogTime
    public var stream: LogStream
    /// The line without its newline.
    public var content: [UInt8]
    /// False for a piece of a longer line (`P`); readers join pieces up to the `F`.
    public var complete: Bool

    public init(time: LogTime, stream: LogStream, content: [UInt8], complete: Bool = true) {
        self.time = time
        self.stream = stream
        self.content = content
        self.complete = complete
    }

    public var text: String { String(decoding: content, as: UTF8.self) }

    /// Appends the entry's line to `out`, with the time already rendered in `time`.
    package static func encode(time: [UInt8], stream: LogStream, complete: Bool, content: UnsafeRawBufferPointer,
                       into out: inout [UInt8]) {
        var header = [UInt8](repeating: 0, count: headerWidth)
        header.withUnsafeMutableBytes { h in
            time.withUnsafeBytes { renderHeader(time: $0.baseAddress!, stream: stream, complete: complete, into: h.baseAddress!) }
        }
        out.append(contentsOf: header)
        out.append(contentsOf: content)
        out.append(UInt8(ascii: "\n"))
    }

    /// Writes what comes before an entry's content, ``headerWidth`` bytes, at `out`:
    /// the time (``LogTime/width`` bytes at `time`), the stream and the flag.
    package static func renderHeader(time: UnsafeRawPointer, stream: LogStream, complete: Bool,
                                     into out: UnsafeMutableRawPointer) {
        out.copyMemory(from: time, byteCount: LogTime.width)
        let tag = stream == .stdout ? stdoutTag : stderrTag
        tag.withUnsafeBytes { out.advanced(by: LogTime.width).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        out.storeBytes(of: complete ? UInt8(ascii: "F") : UInt8(ascii: "P"), toByteOffset: LogTime.width + 8, as: UInt8.self)
        out.storeBytes(of: UInt8(ascii: " "), toByteOffset: LogTime.width + 9, as: UInt8.self)
    }

    /// The bytes before an entry's content: time, stream and flag, with their spaces.
    package static let headerWidth = LogTime.width + 10
    /// The bytes an entry takes on disk beyond its content (its header and newline).
    static let overhead = headerWidth + 1

    private static let stdoutTag = Array(" stdout ".utf8)
    private static let stderrTag = Array(" stderr ".utf8)

    /// One entry from a line of a log file (without its newline); nil for a line
    /// that is not an entry (a log written before berth's format, or damaged).
    package init?(line: ArraySlice<UInt8>) {
        let start = line.startIndex
        guard line.count >= LogTime.width + 10,
              let time = LogTime(bytes: line[start..<(start + LogTime.width)]),
              line[start + LogTime.width] == UInt8(ascii: " ") else { return nil }
        let tag = line[(start + LogTime.width + 1)..<(start + LogTime.width + 7)]
        let stream: LogStream
        if tag.elementsEqual("stdout".utf8) { stream = .stdout }
        else if tag.elementsEqual("stderr".utf8) { stream = .stderr }
        else { return nil }
        let flag = line[start + LogTime.width + 8]
        guard line[start + LogTime.width + 7] == UInt8(ascii: " "), line[start + LogTime.width + 9] == UInt8(ascii: " "),
              flag == UInt8(ascii: "F") || flag == UInt8(ascii: "P") else { return nil }
        self.init(time: time, stream: stream, content: Array(line[(start + LogTime.width + 10)...]),
                  complete: flag == UInt8(ascii: "F"))
    }
}
