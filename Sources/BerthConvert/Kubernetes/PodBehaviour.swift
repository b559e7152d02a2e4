import BerthSpec

/// What the exporter reads of an image in berth's image store.
public struct ImageFacts: Sendable, Equatable {
    /// The image config's `ExposedPorts` (`80/tcp`, `53/udp`), in port order.
    public var exposedPorts: [ExposedPort]

    public init(exposedPorts: [ExposedPort]) {
        self.exposedPorts = exposedPorts
    }
}

/// A port a container listens on: from the image's ExposedPorts or the spec's `ports:`.
public struct ExposedPort: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var port: UInt16
    public var proto: PublishedPort.Proto

    public init(port: UInt16, proto: PublishedPort.Proto = .tcp) {
        self.port = port
        self.proto = proto
    }

    /// `80/tcp`, `53/udp` or `8080` (tcp), as an image config writes the keys of ExposedPorts.
    public init?(configKey: String) {
        let parts = configKey.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let port = UInt16(parts[0]), port > 0 else { return nil }
        let proto = parts.count == 2 ? PublishedPort.Proto(rawValue: parts[1].lowercased()) : .tcp
        guard let proto else { return nil }
        self.init(port: port, proto: proto)
    }

    public var description: String { "\(port)/\(proto.rawValue)" }
    /// A Service port's name: at most 15 characters, lowercase letters, digits and '-'.
    var name: String { "\(proto.rawValue)-\(port)" }
    var kubernetesProtocol: String { proto.rawValue.uppercased() }

    public static func < (a: ExposedPort, b: ExposedPort) -> Bool {
        (a.port, a.proto.rawValue) < (b.port, b.proto.rawValue)
    }
}

/// The pieces of a pod that come from berth's operations and hardening fields: probes,
/// ports, the waits for dependencies, the security context.
extension KubernetesExporter {
    /// Kubernetes' safe sysctls (allowed by every kubelet; 1.30's list). Others need
    /// `--allowed-unsafe-sysctls` on the node, so they are warnings instead.
    static let safeSysctls: Set<String> = [
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    ]

    /// Whole seconds, rounded up, at least 1: probes count in seconds.
    static func seconds(_ span: TimeSpan) -> Int { max(1, (span.milliseconds + 999) / 1000) }

    /// The readiness probe (and, when berth restarts an unhealthy container, the liveness
    /// probe) of a healthcheck: an exec probe with Docker's timings.
    func probes(_ check: Healthcheck, path: String, warn: (String, String) -> Void) -> [(key: String, value: YAMLOut, comment: String?)] {
        var probe: [(key: String, value: YAMLOut, comment: String?)] = [
            ("exec", .map([("command", .flow(check.test.argv), nil)]), nil),
            ("periodSeconds", .raw(String(Self.seconds(check.interval))), nil),
            ("timeoutSeconds", .raw(String(Self.seconds(check.timeout))), nil),
            ("failureThreshold", .raw(String(check.retries)), nil),
        ]
        if check.startPeriod.milliseconds > 0 {
            probe.insert(("initialDelaySeconds", .raw(String(Self.seconds(check.startPeriod))), nil), at: 1)
        }
        if check.startInterval != Healthcheck(test: check.test).startInterval {
            warn("\(path).healthcheck.startInterval", "no Kubernetes equivalent (probes have one period); left out")
        }
        var out: [(key: String, value: YAMLOut, comment: String?)] = [
            ("readinessProbe", .map(probe), "From the healthcheck: the Service sends traffic only while it passes."),
        ]
        if check.onUnhealthy == .restart {
            out.append(("livenessProbe", .map(probe), "berth restarts an unhealthy container; so does the kubelet."))
        }
        return out
    }

    /// The ports a container listens on: its published ones, then the image's ExposedPorts.
    func listeningPorts(_ c: Container, facts: ImageFacts?) -> [ExposedPort] {
        var seen: Set<ExposedPort> = []
        var out: [ExposedPort] = []
        for published in c.ports {
            for port in published.containerPorts where seen.insert(ExposedPort(port: port, proto: published.proto)).inserted {
                out.append(ExposedPort(port: port, proto: published.proto))
            }
        }
        for exposed in facts?.exposedPorts ?? [] where seen.insert(exposed).inserted { out.append(exposed) }
        return out
    }

    /// `ports:` of the pod's container: each published port with its hostPort (and hostIP), as
    /// berth publishes it on the host; each other listening port without one.
    func containerPorts(_ c: Container, listening: [ExposedPort]) -> [YAMLOut] {
        var out: [YAMLOut] = []
        var published: Set<ExposedPort> = []
        for p in c.ports {
            for (host, container) in p.pairs {
                published.insert(ExposedPort(port: container, proto: p.proto))
                var fields: [(key: String, value: YAMLOut, comment: String?)] = [
                    ("containerPort", .raw(String(container)), nil),
                    ("hostPort", .raw(String(host)), nil),
                ]
                if let address = p.hostAddress { fields.append(("hostIP", .string(address.description), nil)) }
                fields.append(("protocol", .string(p.proto.rawValue.uppercased()), nil))
                out.append(.map(fields))
            }
        }
        for port in listening where !published.contains(port) {
            out.append(.map([("containerPort", .raw(String(port.port)), nil), ("protocol", .string(port.kubernetesProtocol), nil)]))
        }
        return out
    }

    /// An initContainer per dependency: it waits until the target's Service name resolves
    /// (a headless Service lists a pod once it is ready, so `healthy` waits for the target's
    /// readiness probe), or, for `completed`, until the target's Job is complete.
    func waits(_ c: Container, spec: Spec, path: String, warn: (String, String) -> Void) -> [YAMLOut] {
        c.dependsOn.map { (d: Dependency) -> YAMLOut in
            let name = "wait-\(d.name)".prefix(63).description
            if d.restart {
                warn("\(path).dependsOn.\(d.name).restart", "Kubernetes does not restart a pod when another is replaced; left out")
            }
            switch d.condition {
            case .completed:
                warn("\(path).dependsOn.\(d.name)",
                     "condition completed: Kubernetes has no dependency on a Job; an initContainer waits with `kubectl wait` (the ServiceAccount \(Self.waiterAccount) and its Role let it read Jobs)")
                return .map([
                    ("name", .string(name), nil),
                    ("image", .string(kubectlImage), nil),
                    ("command", .flow(["kubectl", "wait", "--for=condition=complete", "job/\(d.name)", "--timeout=10m"]), nil),
                ])
            case .started, .healthy:
                let script = "until nslookup \"$SERVICE\" >/dev/null 2>&1; do sleep 2; done"
                return .map([
                    ("name", .string(name), nil),
                    ("image", .string(waitImage), nil),
                    ("command", .flow(["sh", "-c", script]), nil),
                    ("env", .list([
                        .map([("name", .string("NAMESPACE"), nil),
                              ("valueFrom", .map([("fieldRef", .map([("fieldPath", .string("metadata.namespace"), nil)]), nil)]), nil)]),
                        .map([("name", .string("SERVICE"), nil),
                              ("value", .string("\(d.name).$(NAMESPACE).svc.\(clusterDomain)"), nil)]),
                    ]), nil),
                ])
            }
        }
    }

    /// The ServiceAccount that the pods waiting for a Job run as.
    static let waiterAccount = "berth-job-waiter"

    /// The ServiceAccount, Role and RoleBinding that let `kubectl wait` read the project's Jobs.
    func waiterObjects(project: String) -> [KubernetesExport.Manifest] {
        let account = manifest("v1", "ServiceAccount", Self.waiterAccount, project, nil, spec: nil,
                               comment: "For the initContainers that wait for a Job to complete (dependsOn condition completed).")
        let role = manifest("rbac.authorization.k8s.io/v1", "Role", Self.waiterAccount, project, nil, spec: nil, extra: [
            ("rules", .list([.map([
                ("apiGroups", .flow(["batch"]), nil),
                ("resources", .flow(["jobs"]), nil),
                ("verbs", .flow(["get", "list", "watch"]), nil),
            ])]), nil),
        ])
        let binding = manifest("rbac.authorization.k8s.io/v1", "RoleBinding", Self.waiterAccount, project, nil, spec: nil, extra: [
            ("subjects", .list([.map([("kind", .string("ServiceAccount"), nil), ("name", .string(Self.waiterAccount), nil)])]), nil),
            ("roleRef", .map([
                ("apiGroup", .string("rbac.authorization.k8s.io"), nil),
                ("kind", .string("Role"), nil),
                ("name", .string(Self.waiterAccount), nil),
            ]), nil),
        ])
        return [account, role, binding]
    }

    /// The container's securityContext and the pod's, from berth's hardening fields.
    func securityContexts(_ c: Container, path: String, warn: (String, String) -> Void)
        -> (container: [(key: String, value: YAMLOut, comment: String?)], pod: [(key: String, value: YAMLOut, comment: String?)]) {
        var security: [(key: String, value: YAMLOut, comment: String?)] = []
        // Kubernetes' allowPrivilegeEscalation false is no_new_privs; left at its default (true) otherwise.
        if c.noNewPrivileges { security.append(("allowPrivilegeEscalation", .raw("false"), nil)) }
        if let identity = c.identity ?? c.user.numericIdentity, c.identity != nil || !isImageDefaultUser(c) {
            security.append(("runAsUser", .raw(String(identity.uid)), nil))
            security.append(("runAsGroup", .raw(String(identity.gid)), nil))
        } else if !isImageDefaultUser(c) {
            warn("\(path).user", "\(c.user): Kubernetes wants numbers and the image is not in berth's image store to resolve the name (berth image pull, then export again); the image's own user applies")
        }
        var caps: [(key: String, value: YAMLOut, comment: String?)] = []
        let strip = { (n: String) in n.hasPrefix("CAP_") ? String(n.dropFirst(4)) : n }
        if !c.capabilities.add.isEmpty { caps.append(("add", .flow(c.capabilities.add.map(strip)), nil)) }
        // berth expands ALL; Kubernetes reads it as the runtime's whole set, which is what was meant.
        let dropsAll = Set(c.capabilities.drop + c.capabilities.add) == Set(Capability.names)
        if dropsAll { caps.append(("drop", .flow(["ALL"]), nil)) }
        else if !c.capabilities.drop.isEmpty { caps.append(("drop", .flow(c.capabilities.drop.map(strip)), nil)) }
        if !caps.isEmpty { security.append(("capabilities", .map(caps), nil)) }
        if c.readOnlyRootfs { security.append(("readOnlyRootFilesystem", .raw("true"), nil)) }
        switch c.security.seccomp {
        case .default:
            security.append(("seccompProfile", .map([("type", .string("RuntimeDefault"), nil)]), nil))
        case .unconfined:
            security.append(("seccompProfile", .map([("type", .string("Unconfined"), nil)]), nil))
        case .file(let file, _):
            let base = file.split(separator: "/").last.map(String.init) ?? "profile.json"
            security.append(("seccompProfile", .map([("type", .string("Localhost"), nil),
                                                     ("localhostProfile", .string("berth/\(base)"), nil)]), nil))
            warn("\(path).security.seccomp", "a profile file: the kubelet reads Localhost profiles on each node; copy \(file) to its seccomp directory as berth/\(base)")
        }

        var pod: [(key: String, value: YAMLOut, comment: String?)] = []
        var sysctls: [YAMLOut] = []
        for s in c.sysctls {
            if Self.safeSysctls.contains(s.name) {
                sysctls.append(.map([("name", .string(s.name), nil), ("value", .string(s.value), nil)]))
            } else {
                warn("\(path).sysctls.\(s.name)", "not among Kubernetes' safe sysctls: a node must allow it (kubelet --allowed-unsafe-sysctls); left out")
            }
        }
        if !sysctls.isEmpty { pod.append(("sysctls", .list(sysctls), nil)) }
        if !c.ulimits.isEmpty { warn("\(path).ulimits", "no Kubernetes equivalent (the container runtime's defaults apply); left out") }
        if !c.devices.isEmpty { warn("\(path).devices", "no Kubernetes equivalent (a device plugin provides devices); left out") }
        return (security, pod)
    }

    /// A container from an image whose spec writes no `user:`: the image's own user applies,
    /// which Kubernetes does too when runAsUser is left out.
    func isImageDefaultUser(_ c: Container) -> Bool {
        guard c.image != nil, c.user == .root else { return false }
        return c.user.source == nil || c.user.source?.path == "containers.\(c.name)"
    }
}
