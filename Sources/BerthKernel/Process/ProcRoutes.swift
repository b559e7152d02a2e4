extension ProcFS {
    /// The gateway of the IPv4 default route in the main table of the network
    /// namespace of `pid`, from `/proc/PID/net/route`; nil when it has none.
    ///
    /// rtnetlink route dumps take no target namespace id (links and addresses do),
    /// so this file is how the host reads a container's default route without a
    /// socket inside its namespace.
    public static func defaultGateway(pid: Int32) throws -> IPv4? {
        let path = "/proc/\(pid)/net/route"
        return try parseDefaultGateway(readText(path), path: path)
    }

    /// `Iface Destination Gateway Flags RefCnt Use Metric Mask ...`, addresses as
    /// hexadecimal of the address's bytes read as one native word.
    static func parseDefaultGateway(_ text: String, path: String) throws -> IPv4? {
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8 else {
                throw KernelError("parse", path, detail: "a route line with \(fields.count) fields")
            }
            guard let destination = UInt32(fields[1], radix: 16), let gateway = UInt32(fields[2], radix: 16),
                  let flags = UInt32(fields[3], radix: 16), let mask = UInt32(fields[7], radix: 16) else {
                throw KernelError("parse", path, detail: "a route line that is not hexadecimal")
            }
            // RTF_UP (0x1) and RTF_GATEWAY (0x2).
            guard destination == 0, mask == 0, flags & 0x3 == 0x3 else { continue }
            // The kernel prints the address's bytes as this machine's word: its bytes in memory.
            return withUnsafeBytes(of: gateway) { IPv4(bytes: $0) }
        }
        return nil
    }
}
