extension Validator {
    static let resourceKeys = ["cpus", "cpuWeight", "cpuset", "memory", "memorySwap", "pids", "io"]
    static let ioKeys = ["device", "readBps", "writeBps", "readIops", "writeIops"]
    /// Below this a memory limit leaves no room for any process to start.
    static let minimumMemory: UInt64 = 1 << 20

    func checkResources(_ node: YAMLNode, _ path: String) -> Resources {
        var resources = Resources()
        guard let fields = fields(of: node, path: path, known: Validator.resourceKeys, what: "resource limits") else {
            return resources
        }

        if let e = fields["cpus"] {
            let p = join(path, "cpus")
            if let text = numberOrString(e.value, p, what: "a number of cores such as 0.5, or millicores such as \"500m\"") {
                do {
                    resources.cpus = try CPUAmount(parsing: text)
                } catch {
                    self.error(e.value.location, p, error)
                }
            }
        }

        if let e = fields["cpuWeight"] {
            resources.cpuWeight = integer(e.value, join(path, "cpuWeight"), in: 1...10_000)
        }

        if let e = fields["cpuset"] {
            let p = join(path, "cpuset")
            if let s = e.value.scalar, s.kind == .int || s.kind == .string {
                do {
                    resources.cpuset = try CPUSet(parsing: s.value)
                } catch {
                    self.error(e.value.location, p, error)
                }
            } else {
                error(e.value.location, p, "must be a CPU list such as \"0-1,3\", found \(e.value.kindDescription)")
            }
        }

        if let e = fields["memory"] {
            let p = join(path, "memory")
            if let size = size(e.value, p) {
                if size.bytes < Validator.minimumMemory {
                    error(e.value.location, p, "\(quoted(size.text)) is less than 1Mi, too little for any process", hint: "use e.g. 128Mi")
                } else {
                    resources.memory = size
                }
            }
        }

        if let e = fields["memorySwap"] {
            let p = join(path, "memorySwap")
            resources.memorySwap = size(e.value, p)
            if fields["memory"] == nil {
                error(e.key.location, p, "memorySwap needs memory", hint: "it is the swap allowed beyond the memory limit")
            }
        }

        if let e = fields["pids"] {
            resources.pids = integer(e.value, join(path, "pids"), in: 1...4_194_304)
        }

        if let e = fields["io"] {
            resources.io = checkIO(e.value, join(path, "io"))
        }
        return resources
    }

    private func checkIO(_ node: YAMLNode, _ path: String) -> [IOLimit] {
        guard let items = sequence(node, path, example: "[{device: /dev/vda, readBps: 1Mi}]") else { return [] }
        var limits: [IOLimit] = []
        var devices: [IODevice: Int] = [:]
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let fields = fields(of: item, path: p, known: Validator.ioKeys, what: "an io limit") else { continue }
            guard let d = fields["device"] else {
                error(item.location, p, "missing \"device\"", hint: "add e.g. `device: /dev/vda` or `device: \"254:0\"`")
                continue
            }
            var device: IODevice?
            if let text = string(d.value, join(p, "device")) {
                do {
                    device = try IODevice(parsing: text)
                } catch {
                    self.error(d.value.location, join(p, "device"), error)
                }
            }
            var limit = IOLimit(device: device ?? .path("/dev/null"))
            var ok = device != nil
            func bps(_ key: String) -> ByteSize? {
                guard let e = fields[key] else { return nil }
                guard let value = size(e.value, join(p, key)) else {
                    ok = false
                    return nil
                }
                if value.bytes == 0 {
                    error(e.value.location, join(p, key), "must be more than 0", hint: "omit it for no limit")
                    ok = false
                }
                return value
            }
            func iops(_ key: String) -> Int? {
                guard let e = fields[key] else { return nil }
                let value = integer(e.value, join(p, key), in: 1...Int(UInt32.max))
                if value == nil { ok = false }
                return value
            }
            limit.readBps = bps("readBps")
            limit.writeBps = bps("writeBps")
            limit.readIops = iops("readIops")
            limit.writeIops = iops("writeIops")
            if !Validator.ioKeys.dropFirst().contains(where: { fields[$0] != nil }) {
                error(item.location, p, "sets no limit", hint: "add readBps, writeBps, readIops or writeIops")
                ok = false
            }
            if let device {
                if let first = devices[device] {
                    error(d.value.location, join(p, "device"), "\(device) is already limited by \(path)[\(first)]")
                    ok = false
                } else {
                    devices[device] = i
                }
            }
            if ok { limits.append(limit) }
        }
        return limits
    }
}
