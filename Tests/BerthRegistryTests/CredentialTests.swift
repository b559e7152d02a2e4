@testable import BerthRegistry
import Foundation
import Testing

@Suite struct CredentialTests {
    @Test func firstFileWithAnEntryWinsAndTheMostSpecificKey() throws {
        let dir = try TempDir("creds")
        defer { dir.remove() }
        let first = dir.path + "/auth.json", second = dir.path + "/config.json"
        try writeAuthFile(first, registry: "other.example", user: "x", password: "y")
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString() }
        try """
            {"auths": {"https://index.docker.io/v1/": {"auth": "\(b64("hub:pw"))"},
                       "reg.example:5000": {"auth": "\(b64("broad:pw"))"},
                       "reg.example:5000/team": {"auth": "\(b64("team:p:w"))"}}}
            """.write(toFile: second, atomically: true, encoding: .utf8)
        let store = CredentialStore(files: [dir.path + "/missing.json", first, second])
        #expect(try store.lookup(registry: "reg.example:5000", repository: "team/app")
                == .init(credentials: BasicCredentials(username: "team", password: "p:w"), file: second))
        #expect(try store.lookup(registry: "reg.example:5000", repository: "solo")?.credentials.username == "broad")
        #expect(try store.lookup(registry: "docker.io", repository: "library/nginx")?.credentials.username == "hub")
        #expect(try store.lookup(registry: "other.example", repository: "a")?.file == first)
        #expect(try store.lookup(registry: "nowhere", repository: "a") == nil)
    }

    @Test func unreadableFileIsAnErrorNamingItButNotItsContent() throws {
        let dir = try TempDir("creds-bad")
        defer { dir.remove() }
        let file = dir.path + "/auth.json"
        try #"{"auths": {"r": {"auth": "not base64 secret!"}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        do {
            _ = try CredentialStore(files: [file]).lookup(registry: "r", repository: "a")
            Issue.record("no error")
        } catch {
            #expect(error.description.contains(file))
            #expect(!error.description.contains("secret"))
        }
        try "{ nope".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: RegistryError.badCredentialsFile(path: file, detail: "is not valid JSON")) {
            try CredentialStore(files: [file]).lookup(registry: "r", repository: "a")
        }
    }

    @Test func otherShapesAreSkippedOrRefused() throws {
        let dir = try TempDir("creds-shapes")
        defer { dir.remove() }
        let file = dir.path + "/config.json"
        // Entries that are not objects and fields of other types are skipped; the last of a
        // name written twice counts, and JSON escapes are read.
        try #"""
            {"credsStore": "desktop", "auths": {"a.example": "not an object", "b.example": {"auth": 5},
             "c.example": {"username": "\u00e9l\u00e8ve", "password": "p\"w", "username": "eleve"}}}
            """#.write(toFile: file, atomically: true, encoding: .utf8)
        let store = CredentialStore(files: [file])
        #expect(try store.lookup(registry: "a.example", repository: "x") == nil)
        #expect(try store.lookup(registry: "b.example", repository: "x") == nil)
        #expect(try store.lookup(registry: "c.example", repository: "x")?.credentials
                == BasicCredentials(username: "eleve", password: "p\"w"))
        try #"{"auths": {"c.example": {"username": "\u00e9l\u00e8ve", "password": "pw"}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try store.lookup(registry: "c.example", repository: "x")?.credentials.username == "\u{e9}l\u{e8}ve")
        try #"[{"auths": {}}]"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: RegistryError.badCredentialsFile(path: file, detail: "is not a JSON object")) {
            try store.lookup(registry: "c.example", repository: "x")
        }
        try #"{"auths": []}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try store.lookup(registry: "c.example", repository: "x") == nil)
    }

    @Test func standardOrder() {
        let s = CredentialStore.standard(environment: ["REGISTRY_AUTH_FILE": "/a.json", "HOME": "/home/u"])
        #expect(s.files == ["/a.json", "/run/containers/\(getuid())/auth.json", "/home/u/.docker/config.json"])
    }

    @Test func credentialsNeverPrint() {
        let c = BasicCredentials(username: "alice", password: "hunter2")
        #expect(!"\(c)".contains("hunter2") && !"\(c)".contains("alice"))
        #expect(!String(reflecting: c).contains("hunter2"))
        #expect(!c.headerValue.contains("hunter2"))
    }
}
