/// How a ``Container`` is stored in berth's records (`record.json`).
///
/// Records outlive the berth that wrote them, and the format has gained fields since the first
/// release (logging, healthcheck, dependsOn, image, ports, pull, security, devices, sysctls,
/// ulimits, noNewPrivileges, ...). A key that an older berth did not write decodes as the
/// spec's default for it, taken from its one home, the memberwise initializer: a record of the
/// oldest berth then plans as "no changes" against the same spec. Encoding stays synthesized;
/// a new stored property must get a key here (the decoder does not compile without it, and
/// `ContainerCodingTests` checks that every property has one).
extension Container {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, rootfs, command, env, workdir, user, hostname, namespaces, userns, networks, dns
        case resources, restart, stopSignal, stopTimeout, readOnlyRootfs, capabilities, mounts
        case logging, healthcheck, dependsOn  // operations
        case identity  // users
        case image, entrypoint  // images
        case ports  // networks
        case pull  // registry
        case security, devices, sysctls, ulimits, noNewPrivileges  // hardening
        case healthcheckNone  // operations
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        let defaults = Container(name: name, rootfs: "", command: [])
        self.name = name
        rootfs = try c.decode(.rootfs, or: defaults.rootfs)
        command = try c.decode(.command, or: defaults.command)
        env = try c.decode(.env, or: defaults.env)
        workdir = try c.decode(.workdir, or: defaults.workdir)
        user = try c.decode(.user, or: defaults.user)
        hostname = try c.decode(.hostname, or: defaults.hostname)
        namespaces = try c.decode(.namespaces, or: defaults.namespaces)
        userns = try c.decodeIfPresent(UserNamespace.self, forKey: .userns)
        networks = try c.decode(.networks, or: defaults.networks)
        dns = try c.decode(.dns, or: defaults.dns)
        resources = try c.decode(.resources, or: defaults.resources)
        restart = try c.decode(.restart, or: defaults.restart)
        stopSignal = try c.decode(.stopSignal, or: defaults.stopSignal)
        stopTimeout = try c.decode(.stopTimeout, or: defaults.stopTimeout)
        readOnlyRootfs = try c.decode(.readOnlyRootfs, or: defaults.readOnlyRootfs)
        capabilities = try c.decode(.capabilities, or: defaults.capabilities)
        mounts = try c.decode(.mounts, or: defaults.mounts)
        logging = try c.decode(.logging, or: defaults.logging)
        healthcheck = try c.decodeIfPresent(Healthcheck.self, forKey: .healthcheck)
        dependsOn = try c.decode(.dependsOn, or: defaults.dependsOn)
        identity = try c.decodeIfPresent(Identity.self, forKey: .identity)
        image = try c.decodeIfPresent(ImageSource.self, forKey: .image)
        entrypoint = try c.decodeIfPresent([String].self, forKey: .entrypoint)
        ports = try c.decode(.ports, or: defaults.ports)
        pull = try c.decode(.pull, or: defaults.pull)
        security = try c.decode(.security, or: defaults.security)
        devices = try c.decode(.devices, or: defaults.devices)
        sysctls = try c.decode(.sysctls, or: defaults.sysctls)
        ulimits = try c.decode(.ulimits, or: defaults.ulimits)
        noNewPrivileges = try c.decode(.noNewPrivileges, or: defaults.noNewPrivileges)
        healthcheckNone = try c.decodeIfPresent(Bool.self, forKey: .healthcheckNone)
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the key is absent (a record of an older berth).
    /// A key that is present with a value of the wrong type is still an error.
    func decode<T: Decodable>(_ key: Key, or fallback: @autoclosure () -> T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback()
    }
}
