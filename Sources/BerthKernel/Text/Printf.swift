import Glibc

/// C's printf formatting of numbers (`%.1f`, `%02d`, `%02x`), for the few places that print
/// them: berth links FoundationEssentials, which has no `String(format:)`.
public enum Printf {
    /// `format` with `arguments`, as `snprintf` writes them. Numbers only: no `%s`, no `%@`.
    public static func string(_ format: String, _ arguments: any CVarArg...) -> String {
        var capacity = 64
        while true {
            var buffer = [CChar](repeating: 0, count: capacity)
            let n = withVaList(arguments) { vsnprintf(&buffer, capacity, format, $0) }
            guard n >= 0 else { return "" }
            if Int(n) < capacity {
                return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            capacity = Int(n) + 1
        }
    }

    /// Lower-case hex digits of `bytes` (a digest's).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
