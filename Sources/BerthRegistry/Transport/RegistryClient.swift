import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOSSL

/// One conversation with one registry: its TLS trust, its credentials, the token it was
/// given. Every request goes through ``send(_:)``, which authenticates on a challenge,
/// follows redirects (dropping the registry's Authorization when the host changes) and
/// retries 5xx answers, resets and timeouts with backoff.
final class RegistryClient: Sendable {
    let registry: String
    let configuration: RegistryConfiguration
    private let http: HTTPClient
    private let baseURL: String
    private let auth: AuthState

    /// `credentials` is looked up lazily, on the first challenge: an anonymous registry never
    /// makes berth read a credentials file.
    init(registry: String, apiHost: String, configuration: RegistryConfiguration) throws(RegistryError) {
        self.registry = registry
        self.configuration = configuration
        let insecure = configuration.isInsecure(registry)
        baseURL = (insecure ? "http://" : "https://") + apiHost
        var tls = TLSConfiguration.makeClientConfiguration()
        let cas = configuration.caFiles(for: registry)
        if !cas.isEmpty {
            do {
                tls.additionalTrustRoots = try cas.map { .certificates(try NIOSSLCertificate.fromPEMFile($0)) }
            } catch {
                throw .tls(host: registry, detail: "cannot read the CA file in \(configuration.certsDirectory)/\(registry): \(error)")
            }
        }
        var http = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(60)))
        http.decompression = .disabled
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http)
        auth = AuthState()
    }

    /// Must be called once the client is done with (AsyncHTTPClient requires it).
    func shutdown() async {
        try? await http.shutdown()
    }

    struct Request: Sendable {
        var method: HTTPMethod = .GET
        /// Below /v2/, e.g. `library/nginx/manifests/latest`.
        var path: String
        var accept: String?
        var range: Int64?
    }

    /// The response of a request whose status is 2xx (the body not yet read), or 404.
    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: HTTPClientResponse.Body
        var url: String
    }

    /// Sends `request`, retrying as configured. Throws ``RegistryError``.
    func send(_ request: Request) async throws -> Response {
        var attempt = 1
        while true {
            do {
                return try await sendOnce(request)
            } catch let error as Transient {
                guard attempt < configuration.attempts else { throw error.final }
                try await backoff(attempt)
                attempt += 1
            }
        }
    }

    func backoff(_ attempt: Int) async throws {
        let delay = configuration.initialBackoff * (1 << min(attempt - 1, 6))
        try await Task.sleep(for: delay)
    }

    /// A failure worth another attempt, with the error to give when attempts run out.
    struct Transient: Error {
        var final: RegistryError
    }

    private func sendOnce(_ request: Request) async throws -> Response {
        var url = baseURL + "/v2/" + request.path
        var authorised = true
        var hops = 0
        var answeredChallenge = false
        while true {
            var r = HTTPClientRequest(url: url)
            r.method = request.method
            r.headers.add(name: "User-Agent", value: "berth/0.1")
            if let accept = request.accept { r.headers.add(name: "Accept", value: accept) }
            if let from = request.range { r.headers.add(name: "Range", value: "bytes=\(from)-") }
            if authorised, let header = await auth.header { r.headers.add(name: "Authorization", value: header) }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(r, timeout: .minutes(10))
            } catch {
                throw classify(error, url: url)
            }
            let status = Int(response.status.code)
            switch status {
            case 200..<300:
                return Response(status: status, headers: response.headers, body: response.body, url: url)
            case 301, 302, 303, 307, 308:
                hops += 1
                guard hops <= 8, let location = response.headers.first(name: "Location"),
                      let next = Self.resolve(location, against: url) else {
                    throw RegistryError.unexpectedStatus(host: registry, status: status, url: Self.redacted(url))
                }
                // Blob storage behind a redirect gets no registry credentials.
                if Self.host(of: next) != Self.host(of: url) { authorised = false }
                url = next
                continue
            case 401 where authorised && !answeredChallenge:
                let header = response.headers.first(name: "WWW-Authenticate") ?? ""
                let repository = Self.repository(of: request.path)
                try await authenticate(challenge: header, repository: repository, scope: "repository:\(repository):pull")
                answeredChallenge = true
                continue
            case 401, 403:
                throw RegistryError.unauthorized(registry: registry, tried: await auth.credentialsFile,
                                                 searched: configuration.credentials.files)
            case 404:
                return Response(status: status, headers: response.headers, body: response.body, url: url)
            case 408, 429, 500..<600:
                throw Transient(final: .unexpectedStatus(host: registry, status: status, url: Self.redacted(url)))
            default:
                throw RegistryError.unexpectedStatus(host: registry, status: status, url: Self.redacted(url))
            }
        }
    }

    /// Turns an error of the HTTP stack into a typed one: TLS failures are final, the rest transient.
    func classify(_ error: any Error, url: String) -> any Error {
        if error is RegistryError || error is CancellationError { return error }
        let host = Self.host(of: url) ?? registry
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return RegistryError.tls(host: host, detail: String(describing: error))
        }
        if let e = error as? HTTPClientError, e == .invalidURL || e == .emptyHost {
            return RegistryError.unreachable(host: host, detail: String(describing: e))
        }
        return Transient(final: .unreachable(host: host, detail: String(describing: error)))
    }

    /// Answers a 401's challenge: Basic with the stored credentials, or a Bearer token fetched
    /// from the realm (with the credentials, when there are any).
    private func authenticate(challenge header: String, repository: String, scope: String) async throws {
        let challenges: [AuthChallenge]
        do {
            challenges = try AuthChallenge.parse(header)
        } catch {
            throw RegistryError.unexpectedStatus(host: registry, status: 401, url: "(unreadable WWW-Authenticate header: \(error))")
        }
        let found = try configuration.credentials.lookup(registry: registry, repository: repository)
        await auth.setCredentialsFile(found?.file)
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            let token = try await fetchToken(bearer, scope: scope, credentials: found?.credentials)
            await auth.set(header: "Bearer " + token)
        } else if challenges.contains(where: { $0.scheme == "basic" }), let creds = found?.credentials {
            await auth.set(header: creds.headerValue)
        } else {
            throw RegistryError.unauthorized(registry: registry, tried: found?.file, searched: configuration.credentials.files)
        }
    }

    private func fetchToken(_ challenge: AuthChallenge, scope: String, credentials: BasicCredentials?) async throws -> String {
        guard let realm = challenge.realm, var components = URLComponents(string: realm),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http", components.host != nil else {
            throw RegistryError.tokenEndpoint(realm: challenge.realm ?? "(none)", detail: "the challenge names no http(s) realm")
        }
        let realmHost = Self.host(of: realm) ?? ""
        if scheme == "http", !configuration.isInsecure(realmHost), !configuration.isInsecure(registry) {
            throw RegistryError.tokenEndpoint(realm: realm, detail: "plain HTTP realm for a TLS registry; refused (credentials would travel in clear)")
        }
        var query = components.queryItems ?? []
        if let service = challenge.parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: challenge.parameters["scope"] ?? scope))
        components.queryItems = query
        guard let url = components.string else {
            throw RegistryError.tokenEndpoint(realm: realm, detail: "cannot build the token URL")
        }
        var r = HTTPClientRequest(url: url)
        r.headers.add(name: "User-Agent", value: "berth/0.1")
        if let credentials { r.headers.add(name: "Authorization", value: credentials.headerValue) }
        var attempt = 1
        while true {
            do {
                let response = try await http.execute(r, timeout: .seconds(60))
                let body = try await response.body.collect(upTo: 1 << 20)
                switch response.status.code {
                case 200:
                    struct Token: Decodable { var token: String?; var access_token: String? }
                    guard let t = try? JSONDecoder().decode(Token.self, from: Data((body).readableBytesView)),
                          let token = t.token ?? t.access_token, !token.isEmpty else {
                        throw RegistryError.tokenEndpoint(realm: realm, detail: "the answer holds no token")
                    }
                    return token
                case 401, 403:
                    throw RegistryError.unauthorized(registry: registry, tried: await auth.credentialsFile,
                                                     searched: configuration.credentials.files)
                case 500..<600 where attempt < configuration.attempts:
                    break
                default:
                    throw RegistryError.tokenEndpoint(realm: realm, detail: "HTTP \(response.status.code)")
                }
            } catch {
                let e = classify(error, url: url)
                guard let t = e as? Transient else { throw e }
                guard attempt < configuration.attempts else { throw t.final }
            }
            try await backoff(attempt)
            attempt += 1
        }
    }

    static func repository(of path: String) -> String {
        for marker in ["/manifests/", "/blobs/", "/tags/"] {
            if let r = path.firstRange(of: marker) { return String(path[..<r.lowerBound]) }
        }
        return path
    }

    static func host(of url: String) -> String? {
        guard let c = URLComponents(string: url), let host = c.host else { return nil }
        return c.port.map { "\(host):\($0)" } ?? host
    }

    static func resolve(_ location: String, against base: String) -> String? {
        guard let b = URL(string: base), let u = URL(string: location, relativeTo: b) else { return nil }
        return u.absoluteString
    }

    /// A URL for an error message: without its query (blob storage signs URLs there).
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "(url)" }
        c.query = nil
        c.user = nil
        c.password = nil
        return c.string ?? "(url)"
    }
}

/// The Authorization header a registry accepted, shared by the parallel downloads of a pull.
private actor AuthState {
    var header: String?
    var credentialsFile: String?
    func set(header: String) { self.header = header }
    func setCredentialsFile(_ f: String?) { credentialsFile = f }
}
