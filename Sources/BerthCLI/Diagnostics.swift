#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import BerthSpec

/// Prints diagnostics the way compilers do: the error line, then the source line
/// with a caret under the column. Colour only when asked for (see ``forStandardError()``).
public struct DiagnosticRenderer: Sendable {
    public var colour: Bool

    public init(colour: Bool) {
        self.colour = colour
    }

    /// Colour when standard error is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`.
    public static func forStandardError() -> DiagnosticRenderer {
        DiagnosticRenderer(colour: wantsColour(fd: STDERR_FILENO))
    }

    static func wantsColour(fd: Int32) -> Bool {
        if let noColour = getenv("NO_COLOR"), noColour.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return isatty(fd) == 1
    }

    /// Every diagnostic of `error`, each followed by its source line when the source is known.
    public func render(_ error: SpecError) -> String {
        let lines = error.source.map(SourceLines.init)
        return error.diagnostics.map { render($0, lines: lines) }.joined()
    }

    func render(_ d: Diagnostic, lines: SourceLines?) -> String {
        var out = ""
        let location = d.line > 0 ? "\(d.file):\(d.line):\(d.column):" : "\(d.file):"
        out += paint(location, "1") + " " + paint("error:", "1;31") + " "
        if !d.path.isEmpty { out += paint(d.path + ":", "1") + " " }
        out += d.message
        if let hint = d.hint { out += " " + paint("(\(hint))", "36") }
        out += "\n"
        if d.line > 0, let text = lines?.line(d.line) {
            let (shown, caretColumn) = SourceLines.excerpt(text, column: d.column)
            let number = String(d.line)
            let gutter = String(repeating: " ", count: number.count)
            out += " \(number) | \(shown)\n"
            // Tabs stay tabs under the caret so that it lines up in any terminal.
            let padding = shown.unicodeScalars.prefix(caretColumn - 1).map { $0 == "\t" ? "\t" : " " }.joined()
            out += " \(gutter) | \(padding)" + paint("^", "1;32") + "\n"
        }
        return out
    }

    private func paint(_ text: String, _ code: String) -> String {
        colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}

/// The lines of a spec, for quoting them under a diagnostic.
struct SourceLines {
    private let bytes: [UInt8]
    private var starts: [Int] = [0]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
    }

    /// Line `n` (1-based) without its line break, decoded leniently.
    func line(_ n: Int) -> String? {
        guard n >= 1, n <= starts.count else { return nil }
        let start = starts[n - 1]
        var end = n < starts.count ? starts[n] - 1 : bytes.count
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        guard start <= end else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// At most 100 characters of `line` around `column`, and where the column lands in them.
    static func excerpt(_ line: String, column: Int) -> (String, Int) {
        let scalars = Array(line.unicodeScalars)
        let width = 100
        guard scalars.count > width else { return (line, column) }
        let start = max(0, min(column - 1 - width / 2, scalars.count - width))
        let end = min(scalars.count, start + width)
        var shown = String(String.UnicodeScalarView(scalars[start..<end]))
        var caret = column - start
        if start > 0 {
            shown = "…" + shown
            caret += 1
        }
        if end < scalars.count { shown += "…" }
        return (shown, caret)
    }
}

/// Loading a spec for a command: diagnostics go to standard error and the command exits 1.
public enum SpecInput {
    /// The validated spec at `path` (`-` for standard input), or exit 1 after printing every problem.
    public static func load(path: String) throws -> Spec {
        switch SpecLoader.load(path: path) {
        case .success(let spec):
            return spec
        case .failure(let error):
            StandardStreams.writeError(DiagnosticRenderer.forStandardError().render(error))
            throw ExitCode.failure
        }
    }
}

/// Unbuffered writes to the standard streams.
enum StandardStreams {
    static func write(_ text: String) { write(text, fd: STDOUT_FILENO) }
    static func writeError(_ text: String) { write(text, fd: STDERR_FILENO) }

    private static func write(_ text: String, fd: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(n)
        }
    }
}
