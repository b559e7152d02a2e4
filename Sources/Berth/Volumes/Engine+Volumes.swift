import BerthKernel

extension Engine {
    /// The project volumes on disk.
    public var volumes: VolumeStore { VolumeStore(store: store) }

    /// Before a container starts: each volume it mounts exists, and an empty one is
    /// seeded from the container's root at the mount's target.
    func prepareVolumes(of c: Container, project: String) throws {
        for case .volume(let name, let target, _) in c.mounts {
            try volumes.create(project, name)
            try volumes.seedIfEmpty(project, name, target: target, layers: rootLayers(for: c))
            if let userns = c.userns { try volumes.handOverIfEmpty(project, name, to: userns) }
        }
    }

    /// Removes every volume of the project (`destroy --volumes`); refused for volumes that
    /// a container of the project still mounts. Returns the names removed.
    public func removeVolumes(project: String) throws -> [String] {
        var removed: [String] = []
        for name in volumes.names(project) {
            try volumes.remove(project, name)
            removed.append(name)
        }
        return removed
    }
}

extension Applier {
    func runVolume(_ action: PlannedAction, project: String) throws -> String? {
        switch action.kind {
        case .create:
            try engine.volumes.create(project, action.object.name)
            return "created \(engine.volumes.dataDirectory(project, action.object.name))"
        case .update, .replace, .destroy, .start, .noop, .leave:
            return nil
        }
    }
}
