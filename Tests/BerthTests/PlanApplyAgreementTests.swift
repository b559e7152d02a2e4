import Berth
import Foundation
import Testing

/// Plan says exactly what apply will do: over a series of spec edits, the changes
/// `plan --output json` announces are the steps `apply` then prints, one for one, and
/// the counts of its summary are the plan's.
@Suite(.enabled(if: geteuid() == 0, "needs root: containers and bridges"))
struct PlanApplyAgreementTests {
    static func container(_ name: String, memory: String = "32Mi", command: String = "1000", ip: String? = nil) -> String {
        """
          \(name):
            rootfs: ./rootfs
            command: [/bin/sleep, "\(command)"]
            stopTimeout: 1s
            resources: {memory: \(memory)}
            networks: {front: {\(ip.map { "ip: \($0)" } ?? "")}}
        """
    }

    struct Step: Hashable, CustomStringConvertible {
        var action: String
        var kind: String
        var name: String
        var description: String { "\(action) \(kind) \(name)" }
    }

    /// The plan's changes, as (action, object kind, name).
    func announced(_ box: Sandbox) throws -> [Step] {
        let r = try box.plan("--output", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                               "plan --output json: \(r.stdout)\(r.stderr)")
        return (doc["actions"] as? [[String: Any]] ?? []).compactMap { a in
            guard let action = a["action"] as? String, action != "noop", action != "leave",
                  let object = a["object"] as? [String: Any], let kind = object["kind"] as? String,
                  let name = object["name"] as? String else { return nil }
            return Step(action: action, kind: kind, name: name)
        }
    }

    /// The steps apply printed: `  ~ container first: updated /etc/hosts (0 ms)`.
    func done(_ output: String) -> [Step] {
        let symbols = ["+": "create", "~": "update", "-/+": "replace", "-": "destroy"]
        return output.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ", maxSplits: 2)
            guard words.count == 3, let symbol = symbols[String(words[0])],
                  ["container", "network"].contains(String(words[1])),
                  let colon = words[2].firstIndex(of: ":") else { return nil }
            // "~" is also a start again: its summary says so.
            let action = symbol == "update" && line.contains(": started again") ? "start" : symbol
            return Step(action: action, kind: String(words[1]), name: String(words[2][..<colon]))
        }
    }

    @Test func everyEditDoesWhatItsPlanSaid() throws {
        let box = try Sandbox("agree")
        defer { box.close() }
        let net = try box.subnet()
        func spec(_ containers: String...) -> String {
            "version: 1\nnetworks:\n  front: {subnet: \(net.subnet)}\ncontainers:\n" + containers.joined(separator: "\n") + "\n"
        }
        let edits: [(String, String)] = [
            ("a network and one container", spec(Self.container("first"))),
            ("a second container: the first's /etc/hosts changes", spec(Self.container("first"), Self.container("second"))),
            ("a limit raised", spec(Self.container("first", memory: "48Mi"), Self.container("second"))),
            ("an address changed", spec(Self.container("first", memory: "48Mi"),
                                        Self.container("second", ip: "\(net.prefix).77"))),
            ("a command changed", spec(Self.container("first", memory: "48Mi"),
                                       Self.container("second", command: "1001", ip: "\(net.prefix).77"))),
            ("a container removed", spec(Self.container("second", command: "1001", ip: "\(net.prefix).77"))),
            ("the network removed", "version: 1\ncontainers:\n  second:\n    rootfs: ./rootfs\n"
                + "    command: [/bin/sleep, \"1001\"]\n    stopTimeout: 1s\n"),
        ]
        var sawHosts = false
        for (what, text) in edits {
            try box.write(text)
            let planned = try announced(box)
            let r = try box.run("apply", "-f", box.specPath)
            #expect(r.status == 0, "\(what): \(r.stdout)\(r.stderr)")
            let applied = done(r.stdout)
            #expect(applied == planned, "\(what): plan said \(planned), apply did \(applied):\n\(r.stdout)")
            func count(_ a: String) -> Int { planned.filter { $0.action == a }.count }
            if !planned.isEmpty {
                #expect(r.stdout.contains("Apply complete: \(count("create")) created, \(count("update")) updated, "
                                          + "\(count("start")) started again, \(count("replace")) replaced, "
                                          + "\(count("destroy")) destroyed."), "\(what): \(r.stdout)")
            }
            if r.stdout.contains("/etc/hosts") { sawHosts = true }
            #expect(try box.plan("--detailed-exitcode").status == 0, "\(what): not converged")
        }
        #expect(sawHosts, "no edit rewrote a neighbour's /etc/hosts")
    }

    @Test func aNewNeighbourIsAnnouncedOnTheContainersWhoseHostsChange() throws {
        let box = try Sandbox("agree-hosts")
        defer { box.close() }
        let net = try box.subnet()
        try box.write("version: 1\nnetworks:\n  front: {subnet: \(net.subnet)}\ncontainers:\n"
                      + Self.container("first", ip: "\(net.prefix).10") + "\n")
        try box.apply()
        try box.write("version: 1\nnetworks:\n  front: {subnet: \(net.subnet)}\ncontainers:\n"
                      + Self.container("first", ip: "\(net.prefix).10") + "\n"
                      + Self.container("second", ip: "\(net.prefix).11") + "\n")
        let plan = try box.plan()
        #expect(plan.stdout.contains("~ container first: will be updated in place"), "\(plan.stdout)")
        #expect(plan.stdout.contains("/etc/hosts: \(net.prefix).10 first -> \(net.prefix).10 first, \(net.prefix).11 second"),
                "\(plan.stdout)")
        #expect(plan.stdout.contains("Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy."), "\(plan.stdout)")
        let r = try box.apply()
        #expect(r.stdout.contains("Apply complete: 1 created, 1 updated"), "\(r.stdout)")
        let hosts = try box.exec("first", "cat", "/etc/hosts")
        #expect(hosts.stdout.contains("\(net.prefix).11\tsecond"), "\(hosts.stdout)")
    }
}
