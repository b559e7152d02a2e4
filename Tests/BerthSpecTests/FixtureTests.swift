import Foundation
import Testing
@testable import BerthSpec

@Suite("Fixtures")
struct FixtureTests {
    @Test("a valid fixture loads", arguments: Fixture.all("valid"))
    func valid(_ fixture: Fixture) {
        if case .failure(let error) = fixture.load() {
            Issue.record("\(fixture.name) should be valid:\n\(error)")
        }
    }

    @Test("an invalid fixture gives exactly the diagnostics it promises", arguments: Fixture.all("invalid"))
    func invalid(_ fixture: Fixture) throws {
        #expect(!fixture.expectations.isEmpty, "\(fixture.name) has no `# expect:` line")
        guard case .failure(let error) = fixture.load() else {
            Issue.record("\(fixture.name) should be invalid")
            return
        }
        let found = error.diagnostics
        for e in fixture.expectations {
            let match = found.contains { $0.line == e.line && $0.column == e.column && $0.matchText.contains(e.fragment) }
            #expect(match, "\(fixture.name): expected \(e), got:\n\(error)")
        }
        // And nothing else: every diagnostic is one that the fixture expects.
        for d in found {
            let expected = fixture.expectations.contains { $0.line == d.line && $0.column == d.column && d.matchText.contains($0.fragment) }
            #expect(expected, "\(fixture.name): unexpected diagnostic \(d)")
        }
        #expect(found.allSatisfy { $0.file == fixture.name })
        #expect(found == Diagnostic.sorted(found), "diagnostics come in source order")
    }

    @Test("there are fixtures of both kinds")
    func fixturesExist() {
        #expect(Fixture.all("valid").count >= 10)
        #expect(Fixture.all("invalid").count >= 100)
    }
}
