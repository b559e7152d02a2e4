/// The messages of a container's healthcheck endpoint: `health.sock` in its state
/// directory, a SOCK_SEQPACKET socket that its berth init listens on. One connection
/// is one check: berth sends one request, init answers once and closes.
///
/// Binary, not JSON: init decodes it on every check and links no Foundation.
/// - request: the timeout in milliseconds (UInt32, little-endian), then each argument
///   of the check's argv followed by a NUL.
/// - answer: a kind byte, a value (Int32, little-endian), then the head of the output
///   (at most ``outputLimit`` bytes) or, for ``Outcome/failed(_:)``, the error text.
package enum HealthWire {
    /// The socket's name in the state directory.
    package static let socketName = "health.sock"
    /// The longest request init takes (a healthcheck's argv is a few words).
    package static let maxRequest = 64 * 1024
    /// What a check keeps of its stdout and stderr, as Docker does.
    package static let outputLimit = 4096
    /// The longest answer: kind, value and output.
    package static let maxAnswer = 5 + outputLimit + 1024

    package enum Outcome: Equatable, Sendable {
        case exited(Int32)
        case signaled(Int32)
        /// Still running at its timeout: its whole process group was killed.
        case timedOut
        /// It could not be started (exec failed...), or the request was malformed.
        case failed(String)
    }

    package static func request(argv: [String], timeoutMilliseconds: UInt32) -> [UInt8] {
        var bytes = littleEndian(timeoutMilliseconds)
        for arg in argv { bytes += Array(arg.utf8) + [0] }
        return bytes
    }

    /// nil for a malformed request (too short, an empty argv, no final NUL).
    package static func parseRequest(_ bytes: ArraySlice<UInt8>) -> (argv: [String], timeoutMilliseconds: UInt32)? {
        guard bytes.count > 5, bytes.last == 0 else { return nil }
        let start = bytes.startIndex
        let timeout = littleEndian(bytes, at: start)
        let argv = bytes[(start + 4)...].dropLast().split(separator: 0, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard let first = argv.first, !first.isEmpty else { return nil }
        return (argv, timeout)
    }

    package static func answer(_ outcome: Outcome, output: ArraySlice<UInt8>) -> [UInt8] {
        switch outcome {
        case .exited(let code): return [UInt8(ascii: "X")] + littleEndian(UInt32(bitPattern: code)) + output.prefix(outputLimit)
        case .signaled(let sig): return [UInt8(ascii: "S")] + littleEndian(UInt32(bitPattern: sig)) + output.prefix(outputLimit)
        case .timedOut: return [UInt8(ascii: "T")] + littleEndian(0) + output.prefix(outputLimit)
        case .failed(let text): return [UInt8(ascii: "F")] + littleEndian(0) + Array(text.utf8.prefix(maxAnswer - 5))
        }
    }

    /// nil for an answer that is none of the four.
    package static func parseAnswer(_ bytes: ArraySlice<UInt8>) -> (Outcome, [UInt8])? {
        guard bytes.count >= 5 else { return nil }
        let start = bytes.startIndex
        let value = Int32(bitPattern: littleEndian(bytes, at: start + 1))
        let rest = Array(bytes[(start + 5)...])
        switch bytes[start] {
        case UInt8(ascii: "X"): return (.exited(value), rest)
        case UInt8(ascii: "S"): return (.signaled(value), rest)
        case UInt8(ascii: "T"): return (.timedOut, rest)
        case UInt8(ascii: "F"): return (.failed(String(decoding: rest, as: UTF8.self)), [])
        default: return nil
        }
    }

    /// The four bytes at `index` (the caller has checked they are there).
    private static func littleEndian(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt32 {
        UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
    }

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xff), UInt8(value >> 8 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 24)]
    }
}
