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
/// v1 Services and PersistentVolumeClaims, networking.k8s.io/v1 NetworkPolicies).
public struct KubernetesExporter: Sendable {
    /// The storage each PersistentVolumeClaim requests (berth volumes have no size).
    public var volumeSize: String

    public init(volumeSize: String = "1Gi") {
        self.volumeSize = volumeSize
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
            var pod = podSpec(c, image: reference.description, path: path, warn: warn)
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
            // Headless: berth has no published ports yet, and names must resolve between pods as in berth's /etc/hosts.
            manifests.append(manifest("v1", "Service", c.name, spec.project, c.name, spec: .map([
                ("clusterIP", .string("None"), nil),
                ("selector", .map(Self.labels(project: spec.project, container: c.name)), nil),
            ]), comment: "Headless: the name \(c.name) resolves to the pod, as in berth's /etc/hosts."))
        }
        guard errors.isEmpty else { throw KubernetesExportError(problems: errors) }
        let order = ["PersistentVolumeClaim", "NetworkPolicy", "Service", "Deployment", "Job"]
        manifests = manifests.enumerated().sorted { a, b in
            let ia = order.firstIndex(of: a.element.kind)!, ib = order.firstIndex(of: b.element.kind)!
            return ia != ib ? ia < ib : a.offset < b.offset
        }.map(\.element)
        return KubernetesExport(manifests: manifests, warnings: warnings)
    }

    func manifest(_ apiVersion: String, _ kind: String, _ name: String, _ project: String, _ container: String?,
                  spec: YAMLOut, comment: String? = nil) -> KubernetesExport.Manifest {
        let doc: YAMLOut = .map([
            ("apiVersion", .string(apiVersion), comment),
            ("kind", .string(kind), nil),
            ("metadata", .map([("name", .string(name), nil), ("labels", .map(Self.labels(project: project, container: container)), nil)]), nil),
            ("spec", spec, nil),
        ])
        return KubernetesExport.Manifest(kind: kind, name: name, yaml: doc.render())
    }
}
