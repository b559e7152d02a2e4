/// A container port published on the host (`ports:`), in Docker's short syntax:
/// `[HOST_IP:]HOST_PORT[-LAST]:CONTAINER_PORT[-LAST][/tcp|/udp]`.
public struct PublishedPort: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public enum Proto: String, Sendable, Hashable, Codable, CaseIterable { case tcp, udp }

    /// The host address it is published on; nil for every address of the host.
    public var hostAddress: IPv4Address?
    /// 1...65535; as many host ports as container ports.
    public var hostPorts: ClosedRange<UInt16>
    public var containerPorts: ClosedRange<UInt16>
    public var proto: Proto

    public init(hostAddress: IPv4Address? = nil, hostPorts: ClosedRange<UInt16>, containerPorts: ClosedRange<UInt16>,
                proto: Proto = .tcp) {
        self.hostAddress = hostAddress
        self.hostPorts = hostPorts
        self.containerPorts = containerPorts
        self.proto = proto
    }

    /// At most this many ports in one range: each is a rule of its own.
    public static let maxRange = 1024

    /// Each host port with the container port it leads to.
    public var pairs: [(host: UInt16, container: UInt16)] {
        zip(hostPorts, containerPorts).map { ($0, $1) }
    }

    /// The canonical short form, e.g. `127.0.0.1:8080:80/tcp`.
    public var description: String {
        func range(_ r: ClosedRange<UInt16>) -> String { r.count == 1 ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)" }
        return (hostAddress.map { "\($0):" } ?? "") + "\(range(hostPorts)):\(range(containerPorts))/\(proto.rawValue)"
    }

    /// Parses the short syntax.
    public static func parse(_ text: String) -> Result<PublishedPort, ValueError> {
        let example = "write e.g. \"8080:80\", \"127.0.0.1:5432:5432\", \"5353:53/udp\" or \"9000-9002:9000-9002\""
        var body = Substring(text)
        var proto = Proto.tcp
        if let slash = body.lastIndex(of: "/") {
            guard let p = Proto(rawValue: String(body[body.index(after: slash)...])) else {
                return .failure(ValueError("\"\(text)\": the protocol must be tcp or udp", hint: example))
            }
            proto = p
            body = body[..<slash]
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else {
            return .failure(ValueError("\"\(text)\" is not HOST_PORT:CONTAINER_PORT or HOST_IP:HOST_PORT:CONTAINER_PORT", hint: example))
        }
        var address: IPv4Address?
        if parts.count == 3 {
            guard let a = IPv4Address(String(parts[0])) else {
                return .failure(ValueError("\"\(text)\": \"\(parts[0])\" is not an IPv4 address", hint: example))
            }
            if a.value != 0 { address = a }
        }
        func ports(_ s: Substring) -> ClosedRange<UInt16>? {
            let ends = s.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2 else { return nil }
            let numbers = ends.compactMap { e -> UInt16? in
                guard !e.isEmpty, e.allSatisfy(\.isASCII), e.allSatisfy(\.isNumber), let n = UInt16(e), n > 0 else { return nil }
                return n
            }
            guard numbers.count == ends.count, numbers.first! <= numbers.last! else { return nil }
            return numbers.first!...numbers.last!
        }
        let hostText = parts[parts.count - 2], containerText = parts[parts.count - 1]
        guard let host = ports(hostText) else {
            return .failure(ValueError("\"\(text)\": \"\(hostText)\" is not a port (1-65535) or a range FIRST-LAST", hint: example))
        }
        guard let container = ports(containerText) else {
            return .failure(ValueError("\"\(text)\": \"\(containerText)\" is not a port (1-65535) or a range FIRST-LAST", hint: example))
        }
        guard host.count == container.count else {
            return .failure(ValueError("\"\(text)\": \(host.count) host port\(host.count == 1 ? "" : "s") for \(container.count) container port\(container.count == 1 ? "" : "s")",
                                       hint: "a range maps one to one: write as many host ports as container ports"))
        }
        guard host.count <= maxRange else {
            return .failure(ValueError("\"\(text)\": \(host.count) ports in one range; berth publishes at most \(maxRange)"))
        }
        return .success(PublishedPort(hostAddress: address, hostPorts: host, containerPorts: container, proto: proto))
    }

    /// Whether the two take a host port in common (same protocol; "every address" shares all).
    public func overlaps(_ other: PublishedPort) -> Bool {
        guard proto == other.proto, hostPorts.overlaps(other.hostPorts) else { return false }
        guard let a = hostAddress, let b = other.hostAddress else { return true }
        return a == b
    }
}
