import BerthSpec

/// A berth spec as Kubernetes manifests: what `berth export kubernetes` writes.
public struct KubernetesExport: Sendable {
    /// One manifest per object, in apply order (claims and policies before workloads).
    public var manifests: [Manifest]
    /// Every field with no Kubernetes equivalent, by its key path in the spec.
    public var warnings: [ExportWarning]

    public struct Manifest: Sendable {
        public var kind: String
        public var name: String
        /// One YAML document, without the `---` separator.
        public var yaml: String
        /// `deployment-web.yaml`: a file name for `-o DIR`.
        public var fileName: String { "\(kind.lowercased())-\(name).yaml" }
    }

    /// All manifests as one multi-document YAML stream.
    public var stream: String { manifests.map { "---\n" + $0.yaml }.joined() }
}

public struct ExportWarning: Sendable, Equatable, CustomStringConvertible {
    /// e.g. `containers.web.resources.pids`.
    public var path: String
    public var message: String
    public var description: String { "warning: \(path): \(message)" }
}

/// A spec that cannot be exported as it is (a local image source, a rootfs directory).
public struct KubernetesExportError: Error, Sendable, CustomStringConvertible {
    public var problems: [ExportWarning]
    public var description: String { problems.map { "error: \($0.path): \($0.message)" }.joined(separator: "\n") }
}

/// Turns a validated ``Spec`` into Kubernetes objects (apps/v1 Deployments, batch/v1 Jobs,
/// v1 Services and PersistentVolumeClaims, networking.k8s.io/v1 NetworkPolicies, and the
/// RBAC objects of the initContainers that wait for a Job).
public struct KubernetesExporter: Sendable {
    /// The storage each PersistentVolumeClaim requests (berth volumes have no size).
    public var volumeSize: String
    /// What berth's image store knows of a container's image (its ExposedPorts); nil when
    /// the image is not in the store.
    public var imageFacts: @Sendable (ImageSource) -> ImageFacts?
    /// The image of the initContainers that wait for a dependency's Service name.
    public var waitImage: String
    /// The image of the initContainers that wait for a Job (`kubectl wait`).
    public var kubectlImage: String
    /// The cluster's DNS domain, for the names the waits resolve.
    public var clusterDomain: String

    public init(volumeSize: String = "1Gi", waitImage: String = "busybox:1.36", kubectlImage: String = "bitnami/kubectl:1.30",
                clusterDomain: String = "cluster.local", imageFacts: @escaping @Sendable (ImageSource) -> ImageFacts? = { _ in nil }) {
        self.volumeSize = volumeSize
        self.waitImage = waitImage
        self.kubectlImage = kubectlImage
        self.clusterDomain = clusterDomain
        self.imageFacts = imageFacts
    }

    /// The labels every object of a project carries, and that selectors match on.
    static func labels(project: String, container: String?) -> [(key: String, value: YAMLOut, comment: String?)] {
        var out: [(key: String, value: YAMLOut, comment: String?)] = [
            ("app.kubernetes.io/part-of", .string(project), nil),
            ("app.kubernetes.io/managed-by", .string("berth"), nil),
        ]
        if let container { out.insert(("app.kubernetes.io/name", .string(container), nil), at: 0) }
        return out
    }

    /// A pod's membership of a berth network, for the network's NetworkPolicy.
    static func networkLabel(_ network: String) -> String { "berth.network/\(network)" }

    public func export(_ spec: Spec) throws(KubernetesExportError) -> KubernetesExport {
        var warnings: [ExportWarning] = []
        var errors: [ExportWarning] = []
        var manifests: [KubernetesExport.Manifest] = []
        var needsWaiter = false
        func warn(_ path: String, _ message: String) { warnings.append(ExportWarning(path: path, message: message)) }

        for volume in spec.volumes {
            manifests.append(manifest("v1", "PersistentVolumeClaim", volume.name, spec.project, nil, spec: .map([
                ("accessModes", .flow(["ReadWriteOnce"]), nil),
                ("resources", .map([("requests", .map([("storage", .string(volumeSize), nil)]), nil)]), nil),
            ]), comment: "berth volumes have no size: \(volumeSize) requested, change it to what the data needs."))
        }
        for network in spec.networks {
            // Only pods of this network reach each other's pods through it, as berth's bridges isolate.
            let selector: YAMLOut = .map([("matchLabels", .map([(Self.networkLabel(network.name), .string("true"), nil)]), nil)])
            manifests.append(manifest("networking.k8s.io/v1", "NetworkPolicy", network.name, spec.project, nil, spec: .map([
                ("podSelector", selector, nil),
                ("policyTypes", .flow(["Ingress"]), nil),
                ("ingress", .list([.map([("from", .list([.map([("podSelector", selector, nil)])]), nil)])]), nil),
            ]), comment: "berth network \(network.name) (\(network.subnet)): pods of the network talk to each other only."))
            if network.masquerade == false {
                warn("networks.\(network.name).masquerade", "false: Kubernetes pods reach the outside by default; add an egress policy to forbid it")
            }
            if network.mtu != nil { warn("networks.\(network.name).mtu", "no Kubernetes equivalent (the cluster's network sets it); left out") }
        }

        for c in spec.containers {
            let path = "containers.\(c.name)"
            guard let image = c.image else {
                errors.append(ExportWarning(path: "\(path).rootfs", message: "Kubernetes runs images: build an image of \(c.rootfs), push it to a registry and use image:"))
                continue
            }
            guard case .registry(let reference) = image else {
                errors.append(ExportWarning(path: "\(path).image", message: "\(image) is a local image: push it to a registry (e.g. skopeo copy \(image) docker://REGISTRY/NAME:TAG) and use that reference"))
                continue
            }
            let facts = imageFacts(image)
            if facts == nil {
                warn("\(path).image", "\(reference) is not in berth's image store, so its ExposedPorts are not read (berth image pull \(reference), then export again)")
            }
            let listening = listeningPorts(c, facts: facts)
            var pod = podSpec(c, spec: spec, image: reference.description, listening: listening, path: path, warn: warn)
            if c.dependsOn.contains(where: { $0.condition == .completed }) { needsWaiter = true }
            let isJob = c.restart != .always
            let labels = Self.labels(project: spec.project, container: c.name)
                + c.networks.map { (Self.networkLabel($0.network), YAMLOut.string("true"), nil) }
            if isJob {
                pod.append(("restartPolicy", .string(c.restart == .never ? "Never" : "OnFailure"), nil))
                manifests.append(manifest("batch/v1", "Job", c.name, spec.project, c.name, spec: .map([
                    ("backoffLimit", .raw(c.restart == .never ? "0" : "6"), nil),
                    ("template", .map([("metadata", .map([("labels", .map(labels), nil)]), nil),
                                       ("spec", .map(pod), nil)]), nil),
                ]), comment: "restart: \(c.restart.rawValue): a one-shot container is a Job."))
            } else {
                let mountsStorage = c.mounts.contains { if case .tmpfs = $0 { false } else { true } }
                var deployment: [(key: String, value: YAMLOut, comment: String?)] = [
                    ("replicas", .raw("1"), nil),
                    ("selector", .map([("matchLabels", .map(Self.labels(project: spec.project, container: c.name)), nil)]), nil),
                ]
                if mountsStorage {
                    deployment.append(("strategy", .map([("type", .string("Recreate"), nil)]), "Its volume is mounted by one pod at a time."))
                }
                deployment.append(("template", .map([("metadata", .map([("labels", .map(labels), nil)]), nil),
                                                     ("spec", .map(pod), nil)]), nil))
                manifests.append(manifest("apps/v1", "Deployment", c.name, spec.project, c.name, spec: .map(deployment)))
            }
            let selector: YAMLOut = .map(Self.labels(project: spec.project, container: c.name))
            if listening.isEmpty {
                // Names must resolve between pods as in berth's /etc/hosts, ports or not.
                manifests.append(manifest("v1", "Service", c.name, spec.project, c.name, spec: .map([
                    ("clusterIP", .string("None"), nil),
                    ("selector", selector, nil),
                ]), comment: "Headless: no ports are known; the name \(c.name) resolves to the pod, as in berth's /etc/hosts."))
            } else {
                let ports: [YAMLOut] = listening.map { port in
                    .map([("name", .string(port.name), nil), ("port", .raw(String(port.port)), nil),
                          ("targetPort", .raw(String(port.port)), nil), ("protocol", .string(port.kubernetesProtocol), nil)])
                }
                manifests.append(manifest("v1", "Service", c.name, spec.project, c.name, spec: .map([
                    ("selector", selector, nil),
                    ("ports", .list(ports), nil),
                ]), comment: "The ports \(c.name) listens on (published and the image's ExposedPorts), by its name, as on berth's networks."))
            }
        }
        if needsWaiter { manifests.append(contentsOf: waiterObjects(project: spec.project)) }
        guard errors.isEmpty else { throw KubernetesExportError(problems: errors) }
        let order = ["ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim", "NetworkPolicy", "Service", "Deployment", "Job"]
        manifests = manifests.enumerated().sorted { a, b in
            let ia = order.firstIndex(of: a.element.kind)!, ib = order.firstIndex(of: b.element.kind)!
            return ia != ib ? ia < ib : a.offset < b.offset
        }.map(\.element)
        return KubernetesExport(manifests: manifests, warnings: warnings)
    }

    /// One object; `spec` nil for kinds without one (ServiceAccount, Role), whose other
    /// top-level fields come in `extra`.
    func manifest(_ apiVersion: String, _ kind: String, _ name: String, _ project: String, _ container: String?,
                  spec: YAMLOut?, comment: String? = nil,
                  extra: [(key: String, value: YAMLOut, comment: String?)] = []) -> KubernetesExport.Manifest {
        var fields: [(key: String, value: YAMLOut, comment: String?)] = [
            ("apiVersion", .string(apiVersion), comment),
            ("kind", .string(kind), nil),
            ("metadata", .map([("name", .string(name), nil), ("labels", .map(Self.labels(project: project, container: container)), nil)]), nil),
        ]
        if let spec { fields.append(("spec", spec, nil)) }
        let doc: YAMLOut = .map(fields + extra)
        return KubernetesExport.Manifest(kind: kind, name: name, yaml: doc.render())
    }
}
