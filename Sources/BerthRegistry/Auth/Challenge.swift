/// One challenge of a `WWW-Authenticate` header (RFC 7235 section 4.1):
/// `Bearer realm="https://auth.example/token",service="registry",scope="repository:app:pull"`.
public struct AuthChallenge: Sendable, Equatable {
    /// Lower-cased: `bearer`, `basic`.
    public var scheme: String
    /// Parameter names lower-cased (they are case-insensitive), values unquoted and unescaped.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    public var realm: String? { parameters["realm"] }

    /// Why a header could not be read; the header itself is never echoed (it is server input).
    public enum ParseError: Error, Equatable, Sendable {
        case tooLong
        case empty
        case expectedScheme(offset: Int)
        case unterminatedQuote(offset: Int)
        case badParameter(offset: Int)
        case duplicateParameter(String)
        case controlCharacter(offset: Int)
    }

    /// Longer headers are refused before they are read: no registry needs more.
    static let maximumLength = 8192

    /// Every challenge of a header value, in order. Hostile input (unterminated quotes, stray
    /// commas, control characters, parameters given twice) is an error, never a crash.
    public static func parse(_ header: String) throws(ParseError) -> [AuthChallenge] {
        let b = Array(header.utf8)
        guard b.count <= maximumLength else { throw .tooLong }
        var i = 0
        var challenges: [AuthChallenge] = []

        func isTChar(_ c: UInt8) -> Bool {
            switch c {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                 UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                return true
            default: return false
            }
        }
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 { i += 1 } }
        func skipSpaceAndCommas() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == UInt8(ascii: ",") { i += 1 } }
        func token() -> String? {
            let start = i
            while i < b.count, isTChar(b[i]) { i += 1 }
            return i > start ? String(decoding: b[start..<i], as: UTF8.self) : nil
        }
        for (offset, c) in b.enumerated() where (c < 0x20 && c != 0x09) || c == 0x7F {
            throw .controlCharacter(offset: offset)
        }

        skipSpaceAndCommas()
        guard i < b.count else { throw .empty }
        while i < b.count {
            let schemeStart = i
            guard let scheme = token() else { throw .expectedScheme(offset: schemeStart) }
            var challenge = AuthChallenge(scheme: scheme.lowercased(), parameters: [:])
            // Parameters follow until a token that is not followed by "=": the next scheme.
            while true {
                skipSpaceAndCommas()
                guard i < b.count else { break }
                let save = i
                guard let name = token() else { throw .badParameter(offset: i) }
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "=") else {
                    // A new challenge starts at `save` (or a token68 value, which registries do not use).
                    i = save
                    break
                }
                i += 1
                skipSpace()
                var value = ""
                if i < b.count, b[i] == UInt8(ascii: "\"") {
                    let quoteStart = i
                    i += 1
                    var bytes: [UInt8] = []
                    var closed = false
                    while i < b.count {
                        let c = b[i]
                        if c == UInt8(ascii: "\\") {
                            guard i + 1 < b.count else { break }
                            bytes.append(b[i + 1])
                            i += 2
                        } else if c == UInt8(ascii: "\"") {
                            closed = true
                            i += 1
                            break
                        } else {
                            bytes.append(c)
                            i += 1
                        }
                    }
                    guard closed else { throw .unterminatedQuote(offset: quoteStart) }
                    value = String(decoding: bytes, as: UTF8.self)
                } else {
                    guard let t = token() else { throw .badParameter(offset: i) }
                    value = t
                }
                let key = name.lowercased()
                guard challenge.parameters[key] == nil else { throw .duplicateParameter(key) }
                challenge.parameters[key] = value
                skipSpace()
                guard i >= b.count || b[i] == UInt8(ascii: ",") else { throw .badParameter(offset: i) }
            }
            challenges.append(challenge)
            skipSpaceAndCommas()
            if i < b.count, challenges.count > 16 { throw .tooLong }
        }
        return challenges
    }
}
