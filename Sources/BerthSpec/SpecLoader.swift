#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The entry point of the spec stage: a file (or standard input) in, a validated
/// ``Spec`` or every problem of the file out.
///
/// ```swift
/// switch SpecLoader.load(path: "specs/demo.yaml") {
/// case .success(let spec): ...
/// case .failure(let error): print(error)   // one compiler-style line per problem
/// }
/// let spec = try SpecLoader.load(path: path).get()
/// ```
public enum SpecLoader {
    /// The name diagnostics give standard input.
    public static let stdinName = "<stdin>"
    /// Larger files are refused before parsing: a spec of 10,000 containers is a few MiB.
    public static let maxFileSize = 16 << 20

    /// Loads the spec at `path`; `-` reads standard input (then `project` is required,
    /// and relative paths resolve against the current directory).
    public static func load(path: String) -> Result<Spec, SpecError> {
        let fileName = path == "-" ? stdinName : path
        let bytes: [UInt8]
        switch path == "-" ? readAll(fd: STDIN_FILENO, name: fileName) : readFile(path) {
        case .success(let b): bytes = b
        case .failure(let error): return .failure(error)
        }
        let cwd = currentDirectory()
        let base = path == "-" ? cwd : Paths.directory(of: Paths.resolve(path, against: cwd))
        return load(bytes: bytes, fileName: fileName, baseDirectory: base)
    }

    /// Loads a spec from text; `fileName` names it in diagnostics and gives the default
    /// project name (unless it is ``stdinName``); relative paths resolve against
    /// `baseDirectory`, which must be absolute.
    public static func load(text: String, fileName: String, baseDirectory: String) -> Result<Spec, SpecError> {
        load(bytes: Array(text.utf8), fileName: fileName, baseDirectory: baseDirectory)
    }

    /// Like ``load(text:fileName:baseDirectory:)``, from raw bytes, which need not be valid UTF-8.
    public static func load(bytes: [UInt8], fileName: String, baseDirectory: String) -> Result<Spec, SpecError> {
        guard bytes.count <= maxFileSize else {
            return .failure(SpecError(diagnostics: [Diagnostic(
                file: fileName, location: .file, path: "",
                message: "is larger than \(maxFileSize >> 20) MiB; berth does not read specs that large")]))
        }
        if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) {
            return .failure(SpecError(diagnostics: [Diagnostic(
                file: fileName, location: .file, path: "", message: "the file is empty",
                hint: "a spec needs at least `version: 1` and `containers:`")], source: bytes))
        }
        let parsed = YAMLParser.parse(bytes, file: fileName)
        var diagnostics = parsed.diagnostics
        var spec: Spec?
        if let root = parsed.root, root.scalar?.kind == .null, diagnostics.isEmpty {
            diagnostics.append(Diagnostic(file: fileName, location: parsed.documentLocation, path: "",
                                          message: "the document is empty", hint: "a spec needs at least `version: 1` and `containers:`"))
        } else if let root = parsed.root {
            // The parser only returns a root when it read the whole document; its remaining
            // complaints (duplicate keys, bad merges) leave a tree that is still worth checking.
            let validator = Validator(
                file: fileName, baseDirectory: Paths.clean(baseDirectory),
                defaultProject: fileName == stdinName ? nil : Paths.stem(of: fileName))
            spec = validator.validate(root)
            diagnostics += validator.diagnostics
        } else if parsed.root == nil, diagnostics.isEmpty {
            diagnostics.append(Diagnostic(file: fileName, location: .file, path: "", message: "the file holds no YAML document"))
        }
        if var spec, diagnostics.isEmpty {
            spec.source = SpecSource(file: fileName, bytes: bytes)
            return .success(spec)
        }
        return .failure(SpecError(diagnostics: Diagnostic.sorted(diagnostics), source: bytes))
    }

    // MARK: - Reading

    private static func readFile(_ path: String) -> Result<[UInt8], SpecError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(SpecError(diagnostics: [readError(path, errno)])) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(SpecError(diagnostics: [readError(path, errno)])) }
        if st.st_mode & S_IFMT == S_IFDIR {
            return .failure(SpecError(diagnostics: [Diagnostic(file: path, location: .file, path: "", message: "is a directory, not a spec file")]))
        }
        if st.st_mode & S_IFMT == S_IFREG, st.st_size > maxFileSize {
            return .failure(SpecError(diagnostics: [Diagnostic(
                file: path, location: .file, path: "",
                message: "is larger than \(maxFileSize >> 20) MiB; berth does not read specs that large")]))
        }
        return readAll(fd: fd, name: path)
    }

    /// Reads to the end, but never more than one byte past ``maxFileSize``.
    private static func readAll(fd: Int32, name: String) -> Result<[UInt8], SpecError> {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= maxFileSize {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(SpecError(diagnostics: [readError(name, errno)]))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return .success(bytes)
    }

    private static func readError(_ name: String, _ code: Int32) -> Diagnostic {
        Diagnostic(file: name, location: .file, path: "", message: "cannot read: \(String(cString: strerror(code)))")
    }

    private static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
