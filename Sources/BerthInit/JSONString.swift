/// JSON string literals, for the JSON berth writes by hand (nftables' input, the CLI's
/// `--output json`) so that keys keep a stable order and no Foundation is needed.
public enum JSONString {
    /// Appends `s` as a JSON string literal: quotes, backslashes and control characters escaped.
    public static func append(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// `s` as a JSON string literal.
    public static func literal(_ s: String) -> String {
        var out = ""
        append(s, to: &out)
        return out
    }
}
