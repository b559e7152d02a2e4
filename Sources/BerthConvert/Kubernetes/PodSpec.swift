import BerthSpec

extension KubernetesExporter {
    /// Bytes as a Kubernetes quantity in the largest binary unit that divides them (`1536Mi`).
    static func quantity(_ bytes: UInt64) -> String {
        for (unit, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] as [(String, UInt64)]
            where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return String(bytes)
    }

    /// The pod of one container: its container, volumes, security context, probes, ports,
    /// the waits for its dependencies, DNS and grace period.
    func podSpec(_ c: Container, spec: Spec, image: String, listening: [ExposedPort], path: String,
                 warn: (String, String) -> Void) -> [(key: String, value: YAMLOut, comment: String?)] {
        var container: [(key: String, value: YAMLOut, comment: String?)] = [
            ("name", .string(c.name), nil), ("image", .string(image), nil),
        ]
        let pullPolicy: [PullPolicy: String] = [.missing: "IfNotPresent", .always: "Always", .never: "Never"]
        container.append(("imagePullPolicy", .string(pullPolicy[c.pull]!), nil))
        // Kubernetes' command replaces the Entrypoint and args the Cmd, as berth's entrypoint and command do.
        if let entrypoint = c.entrypoint { container.append(("command", .flow(entrypoint), nil)) }
        if !c.command.isEmpty { container.append(("args", .flow(c.command), nil)) }
        if !c.env.isEmpty {
            container.append(("env", .list(c.env.map { .map([("name", .string($0.name), nil), ("value", .string($0.value), nil)]) }), nil))
        }
        if c.workdir != "/" { container.append(("workingDir", .string(c.workdir), nil)) }

        var limits: [(key: String, value: YAMLOut, comment: String?)] = []
        var requests: [(key: String, value: YAMLOut, comment: String?)] = []
        let r = c.resources
        if let cpus = r.cpus { limits.append(("cpu", .string("\(cpus.millicores)m"), nil)) }
        if let memory = r.memory {
            limits.append(("memory", .string(Self.quantity(memory.bytes)), nil))
            requests.append(("memory", .string(Self.quantity(memory.bytes)), nil))
        }
        if let weight = r.cpuWeight {
            // The kubelet turns requests.cpu into shares (millicores * 1024 / 1000) and the
            // runtime shares into a weight; this is that chain run backwards.
            let shares = 2 + ((weight - 1) * 262_142 + 9998) / 9999
            requests.append(("cpu", .string("\(max(1, (shares * 1000) / 1024))m"), nil))
        }
        if r.pids != nil { warn("\(path).resources.pids", "no per-pod equivalent (a kubelet setting); left out") }
        if r.cpuset != nil { warn("\(path).resources.cpuset", "no Kubernetes equivalent (the CPU manager's static policy decides); left out") }
        if !r.io.isEmpty { warn("\(path).resources.io", "no Kubernetes equivalent; left out") }
        if r.memorySwap != nil { warn("\(path).resources.memorySwap", "no per-pod equivalent; left out") }
        if !limits.isEmpty || !requests.isEmpty {
            var resources: [(key: String, value: YAMLOut, comment: String?)] = []
            if !limits.isEmpty { resources.append(("limits", .map(limits), nil)) }
            if !requests.isEmpty { resources.append(("requests", .map(requests), nil)) }
            container.append(("resources", .map(resources), nil))
        }

        let ports = containerPorts(c, listening: listening)
        if !ports.isEmpty { container.append(("ports", .list(ports), nil)) }
        if let check = c.healthcheck { container.append(contentsOf: probes(check, path: path, warn: warn)) }
        let (security, podSecurity) = securityContexts(c, path: path, warn: warn)
        if !security.isEmpty { container.append(("securityContext", .map(security), nil)) }

        var volumes: [YAMLOut] = []
        var volumeMounts: [YAMLOut] = []
        for (i, mount) in c.mounts.enumerated() {
            let name = "m\(i)"
            var m: [(key: String, value: YAMLOut, comment: String?)] = [("name", .string(name), nil), ("mountPath", .string(mount.target), nil)]
            switch mount {
            case .volume(let volume, _, let readOnly):
                volumes.append(.map([("name", .string(name), nil), ("persistentVolumeClaim", .map([("claimName", .string(volume), nil)]), nil)]))
                if readOnly { m.append(("readOnly", .raw("true"), nil)) }
            case .bind(let source, _, let readOnly):
                warn("\(path).mounts[\(i)]", "a host bind mount of \(source): exported as a hostPath, which exists only on the node the pod lands on")
                volumes.append(.map([("name", .string(name), nil), ("hostPath", .map([("path", .string(source), nil)]), nil)]))
                if readOnly { m.append(("readOnly", .raw("true"), nil)) }
            case .tmpfs(_, let size, let readOnly):
                var dir: [(key: String, value: YAMLOut, comment: String?)] = [("medium", .string("Memory"), nil)]
                if let size { dir.append(("sizeLimit", .string(Self.quantity(size.bytes)), nil)) }
                volumes.append(.map([("name", .string(name), nil), ("emptyDir", .map(dir), nil)]))
                if readOnly { m.append(("readOnly", .raw("true"), nil)) }
            }
            volumeMounts.append(.map(m))
        }
        if !volumeMounts.isEmpty { container.append(("volumeMounts", .list(volumeMounts), nil)) }

        var pod: [(key: String, value: YAMLOut, comment: String?)] = []
        if !c.namespaces.contains(.network) {
            pod.append(("hostNetwork", .raw("true"), "Without its own network namespace the container shares the host's."))
        }
        if !c.namespaces.contains(.pid) { pod.append(("hostPID", .raw("true"), nil)) }
        if !c.namespaces.contains(.ipc) { pod.append(("hostIPC", .raw("true"), nil)) }
        if c.namespaces.contains(.user) { warn("\(path).userns", "the pod's user namespace is the cluster's choice (hostUsers: false); mappings left out") }
        if c.namespaces.contains(.uts), c.hostname != c.name {
            let label = c.hostname.split(separator: ".").first.map(String.init) ?? c.hostname
            pod.append(("hostname", .string(label.lowercased()), nil))
            if label != c.hostname { warn("\(path).hostname", "\(c.hostname): a pod's hostname is one label; \(label.lowercased()) kept") }
        }
        if !c.dns.isEmpty {
            pod.append(("dnsPolicy", .string("None"), nil))
            pod.append(("dnsConfig", .map([("nameservers", .flow(c.dns.map(\.description)), nil)]), nil))
        }
        for attachment in c.networks where attachment.ip != nil {
            warn("\(path).networks.\(attachment.network).ip", "the cluster assigns pod addresses; left out")
        }
        if c.stopSignal.name != "SIGTERM" {
            warn("\(path).stopSignal", "\(c.stopSignal.name): Kubernetes stops containers with SIGTERM (or the image's STOPSIGNAL)")
        }
        if c.logging != .standard {
            warn("\(path).logging", "the kubelet rotates container logs by its own settings; left out")
        }
        if !podSecurity.isEmpty { pod.append(("securityContext", .map(podSecurity), nil)) }
        pod.append(("terminationGracePeriodSeconds", .raw(String((c.stopTimeout.milliseconds + 999) / 1000)), nil))
        let initContainers = waits(c, spec: spec, path: path, warn: warn)
        if c.dependsOn.contains(where: { $0.condition == .completed }) {
            pod.append(("serviceAccountName", .string(Self.waiterAccount), nil))
        }
        if !initContainers.isEmpty { pod.append(("initContainers", .list(initContainers), "berth's dependsOn: each waits for one dependency.")) }
        pod.append(("containers", .list([.map(container)]), nil))
        if !volumes.isEmpty { pod.append(("volumes", .list(volumes), nil)) }
        return pod
    }
}
