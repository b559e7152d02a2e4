@testable import BerthRegistry
import Testing

@Suite struct ChallengeTests {
    @Test func bearerWithEveryParameter() throws {
        let c = try AuthChallenge.parse(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#)
        #expect(c == [AuthChallenge(scheme: "bearer", parameters: [
            "realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:samalba/my-app:pull,push",
        ])])
    }

    @Test func basicAndBearerInOneHeader() throws {
        let c = try AuthChallenge.parse(#"Basic realm="reg", BEARER Realm="https://t/x" , error=insufficient_scope"#)
        #expect(c.map(\.scheme) == ["basic", "bearer"])
        #expect(c[0].realm == "reg")
        #expect(c[1].parameters == ["realm": "https://t/x", "error": "insufficient_scope"])
    }

    @Test func quotedStringsKeepCommasAndEscapes() throws {
        let c = try AuthChallenge.parse(#"Bearer realm="a,b=\"c\"\\d", scope=x"#)
        #expect(c.first?.realm == #"a,b="c"\d"#)
        #expect(c.first?.parameters["scope"] == "x")
    }

    @Test func schemeAlone() throws {
        #expect(try AuthChallenge.parse("Basic") == [AuthChallenge(scheme: "basic", parameters: [:])])
    }

    @Test(arguments: [
        (#"Bearer realm="unterminated"#, AuthChallenge.ParseError.unterminatedQuote(offset: 13)),
        (#"Bearer realm="x",realm="y""#, .duplicateParameter("realm")),
        ("", .empty),
        (" , ,", .empty),
        ("Bearer realm=\"x\"\r\nSet-Cookie: a", .controlCharacter(offset: 16)),
        ("Bearer realm=\"a\u{0}b\"", .controlCharacter(offset: 15)),
        (#"Bearer realm="x" junk"#, .badParameter(offset: 17)),
        (#"Bearer realm= ,"#, .badParameter(offset: 14)),
        (#"=x"#, .expectedScheme(offset: 0)),
        ("Bearer realm=\"x\\", .unterminatedQuote(offset: 13)),
    ])
    func hostileHeadersAreErrors(header: String, error: AuthChallenge.ParseError) {
        #expect(throws: error) { try AuthChallenge.parse(header) }
    }

    @Test func oversizedHeaderIsRefusedUnread() {
        let huge = "Bearer realm=\"" + String(repeating: "a", count: 10_000) + "\""
        #expect(throws: AuthChallenge.ParseError.tooLong) { try AuthChallenge.parse(huge) }
    }

    @Test func manyCommasAndSpacesNeverCrash() throws {
        // Every prefix of a valid header either parses or is an error: never a crash or a hang.
        let header = #"Bearer realm="https://auth/token",service="svc",scope="repository:a/b:pull", Basic realm="r""#
        for n in 0...header.utf8.count {
            _ = try? AuthChallenge.parse(String(decoding: header.utf8.prefix(n), as: UTF8.self))
        }
        #expect(try AuthChallenge.parse(header).count == 2)
    }
}
