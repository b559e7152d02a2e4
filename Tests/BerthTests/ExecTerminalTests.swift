import Foundation
import Testing

@Suite("berth exec -i -t through a real terminal", .enabled(if: geteuid() == 0, "needs root"))
struct ExecTerminalTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Scripts/pty_exec.py").path

    @Test func execDashITIsAnInteractiveShellThatCannotReachTheCallersTerminal() throws {
        let box = try Sandbox("exec-tty")
        defer { box.close() }
        for applet in ["tty", "stty", "cut"] {
            try FileManager.default.createSymbolicLink(atPath: "\(box.rootfs)/bin/\(applet)", withDestinationPath: "busybox")
        }
        try box.write("""
            version: 1
            containers:
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
            """)
        try box.apply()
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = [Self.script, box.berth, box.project, "web"]
        python.environment = ProcessInfo.processInfo.environment.merging(["BERTH_STATE_DIR": box.stateDirectory]) { $1 }
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        python.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let seen = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(text)")
        try #require(seen["error"] == nil, "\(text)")

        // -t: a terminal of the container's own devpts, the size of the caller's, following its changes.
        #expect((seen["tty"] as? String)?.hasPrefix("/dev/pts/") == true, "\(text)")
        #expect(seen["size"] as? String == "33 101", "\(text)")
        #expect(seen["resized"] as? String == "40 120", "\(text)")
        #expect(seen["answer"] as? String == "42", "\(text)")
        // The shell leads its own session, with that terminal as its controlling tty.
        #expect(seen["sid"] as? String == seen["shell_pid"] as? String, "\(text)")
        #expect(seen["tty_nr"] as? String != "0", "\(text)")
        #expect(seen["status"] as? Int == 3, "\(text)")
        #expect(seen["restored"] as? Bool == true, "the caller's terminal was left in raw mode: \(text)")

        // Without -t: its own session and no controlling terminal at all (TIOCSTI needs one).
        #expect(seen["plain_sid"] as? String == seen["plain_pid"] as? String, "\(text)")
        #expect(seen["plain_tty_nr"] as? String == "0", "\(text)")
        #expect(seen["plain_status"] as? Int == 0, "\(text)")
    }
}
