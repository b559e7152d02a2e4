import Foundation
import Testing

/// Runs a program to completion; throws with its stderr when it fails.
@discardableResult
func sh(_ argv: [String], environment: [String: String]? = nil, input: String? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : "/usr/bin/env")
    p.arguments = argv[0].hasPrefix("/") ? Array(argv.dropFirst()) : argv
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try p.run()
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw FixtureError("\(argv.joined(separator: " ")) exited \(p.terminationStatus): \(String(decoding: e, as: UTF8.self))")
    }
    return String(decoding: o, as: UTF8.self)
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A temporary directory, removed by ``remove()``.
final class TempDir: @unchecked Sendable {
    let path: String
    init(_ tag: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-reg-\(tag)-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A program the test started and stops (SIGTERM, then SIGKILL), whose first stdout line
/// may be read (the helpers print their port there).
final class Daemon: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    let logPath: String

    init(_ argv: [String], log: String) throws {
        logPath = log
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = out
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The first line the program prints (its port), waiting at most `seconds`.
    func firstLine(within seconds: Double = 20) throws -> String {
        let handle = out.fileHandleForReading
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        var pfd = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
        while Date() < deadline {
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var b: UInt8 = 0
            guard read(handle.fileDescriptor, &b, 1) == 1 else { break }
            if b == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(b)
        }
        throw FixtureError("\(process.executableURL!.path) printed no line: \(stderrText)")
    }

    var stderrText: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A port nobody listens on now (the kernel's pick for a socket bound to port 0).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw FixtureError("cannot find a free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func listening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 with a temporary storage
/// directory, in one of the auth configurations; ``stop()`` ends it and removes its files.
final class TestRegistry: @unchecked Sendable {
    enum Auth {
        case anonymous
        case htpasswd(user: String, password: String)
        case token(user: String, password: String)
    }

    let dir: TempDir
    let port: Int
    let host: String
    let auth: Auth
    /// The CA that signed the registry's certificate, when it speaks TLS.
    let caCertificate: String?
    private var daemons: [Daemon] = []

    static let supportDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support").path

    init(auth: Auth = .anonymous, tls: Bool = false) throws {
        signal(SIGPIPE, SIG_IGN)
        dir = try TempDir("registry")
        self.auth = auth
        do {
            port = try freePort()
            host = "127.0.0.1:\(port)"
            var tlsSection = ""
            if tls {
                try Self.makeCertificates(in: dir.path)
                caCertificate = dir.path + "/ca.crt"
                tlsSection = "\n  tls:\n    certificate: \(dir.path)/server.crt\n    key: \(dir.path)/server.key"
            } else {
                caCertificate = nil
            }
            var authSection = ""
            switch auth {
            case .anonymous:
                break
            case .htpasswd(let user, let password):
                try sh(["/usr/bin/htpasswd", "-Bbc", dir.path + "/htpasswd", user, password])
                authSection = "auth:\n  htpasswd:\n    realm: berth-test\n    path: \(dir.path)/htpasswd\n"
            case .token(let user, let password):
                try sh(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=berth-test-issuer", "-keyout", dir.path + "/issuer.key", "-out", dir.path + "/issuer.crt"])
                let issuer = try Daemon(["/usr/bin/env", "python3", Self.supportDirectory + "/token_issuer.py",
                                         dir.path + "/issuer.key", dir.path + "/issuer.crt", "berth-test", "berth-test-issuer",
                                         "\(user):\(password)"], log: dir.path + "/issuer.log")
                daemons.append(issuer)
                let issuerPort = try issuer.firstLine()
                authSection = """
                    auth:
                      token:
                        realm: http://127.0.0.1:\(issuerPort)/token
                        service: berth-test
                        issuer: berth-test-issuer
                        rootcertbundle: \(dir.path)/issuer.crt

                    """
            }
            let config = """
                version: 0.1
                log:
                  level: warn
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: \(dir.path)/data
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:\(port)
                  secret: berth-test-secret\(tlsSection)
                \(authSection)
                """
            try config.write(toFile: dir.path + "/config.yml", atomically: true, encoding: .utf8)
            daemons.append(try Daemon(["/usr/bin/docker-registry", "serve", dir.path + "/config.yml"], log: dir.path + "/registry.log"))
            let deadline = Date().addingTimeInterval(20)
            while !listening(port) {
                guard Date() < deadline, daemons.last!.process.isRunning else {
                    throw FixtureError("docker-registry did not start: \(daemons.last!.stderrText)")
                }
                usleep(20_000)
            }
        } catch {
            for d in daemons.reversed() { d.stop() }
            dir.remove()
            throw error
        }
    }

    /// A CA and a certificate for 127.0.0.1 signed by it.
    static func makeCertificates(in dir: String) throws {
        try sh(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=berth-test-ca", "-keyout", dir + "/ca.key", "-out", dir + "/ca.crt"])
        try sh(["/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", dir + "/server.key", "-out", dir + "/server.csr"])
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: dir + "/san.ext", atomically: true, encoding: .utf8)
        try sh(["/usr/bin/openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", dir + "/san.ext", "-out", dir + "/server.crt"])
    }

    /// skopeo's credentials option for this registry.
    var skopeoCreds: [String] {
        switch auth {
        case .anonymous: return []
        case .htpasswd(let u, let p), .token(let u, let p): return ["--dest-creds", "\(u):\(p)"]
        }
    }

    /// Pushes `oci:LAYOUT:TAG` (or the whole index with `all`) as `repository:tag`.
    func push(layout: String, tag: String, as target: String, all: Bool = false) throws {
        try sh(["/usr/bin/skopeo", "copy", "--quiet", "--dest-tls-verify=false"] + skopeoCreds + (all ? ["--all"] : [])
               + ["oci:\(layout):\(tag)", "docker://\(host)/\(target)"])
    }

    func stop() {
        for d in daemons.reversed() { d.stop() }
        dir.remove()
    }
}

/// An auth.json (containers-auth.json(5) form) with one registry's credentials.
func writeAuthFile(_ path: String, registry: String, user: String, password: String) throws {
    let auth = Data("\(user):\(password)".utf8).base64EncodedString()
    try #"{"auths": {"\#(registry)": {"auth": "\#(auth)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
}
