import BerthKernel
import FoundationEssentials
import SystemPackage

/// What berth remembers of a network: the spec it applied, the MAC it pinned on
/// the bridge, and every address it handed out (crash-safe: written before the
/// address is used, so an address is never handed out twice).
public struct NetworkRecord: Sendable, Equatable, Codable {
    public var spec: Network
    /// The bridge's MAC, pinned so that it does not change as ports come and go.
    public var mac: String
    /// Container name -> address, for every container attached (static or chosen by berth).
    public var allocations: [String: IPv4Address]
    // lan
    /// A lan network's NIC as it was before the takeover, written before the first change
    /// to it; nil until then, and on other networks.
    public var uplink: UplinkState?

    public init(spec: Network, mac: String, allocations: [String: IPv4Address] = [:], uplink: UplinkState? = nil) {
        self.spec = spec
        self.mac = mac
        self.allocations = allocations
        self.uplink = uplink
    }
}

extension StateStore {
    func networkRecordPath(_ project: String, _ network: String) -> String {
        "\(projectDirectory(project))/networks/\(network).json"
    }

    public func networkRecords(_ project: String) throws -> [String: NetworkRecord] {
        let dir = "\(projectDirectory(project))/networks"
        var out: [String: NetworkRecord] = [:]
        for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where file.hasSuffix(".json") {
            let path = "\(dir)/\(file)"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do {
                let record = try JSONDecoder().decode(NetworkRecord.self, from: data)
                out[record.spec.name] = record
            } catch {
                throw StateError("read \(path)", "\(error)")
            }
        }
        return out
    }

    public func write(_ record: NetworkRecord, project: String) throws {
        let path = networkRecordPath(project, record.spec.name)
        try Self.makeDirectories(FilePath(path).removingLastComponent().string)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Self.writeAtomically(try encoder.encode(record), to: path)
    }

    public func removeNetwork(project: String, name: String) throws {
        let path = networkRecordPath(project, name)
        guard FileManager.default.fileExists(atPath: path) else { return }
        do { try FileManager.default.removeItem(atPath: path) } catch { throw StateError("remove \(path)", FileErrorText.reason(error)) }
    }
}
