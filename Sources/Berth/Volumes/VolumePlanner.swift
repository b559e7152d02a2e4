extension Planner {
    /// A volume of the spec that is not on disk is created, before the containers that
    /// mount it. Volumes are never destroyed by a plan: they outlive the spec that made them.
    static func planVolumes(spec: Spec, observed: ObservedState) -> [PlannedAction] {
        spec.volumes.map { volume in
            observed.volumes.contains(volume.name)
                ? PlannedAction(object: .volume(volume.name), kind: .noop, reason: "exists")
                : PlannedAction(object: .volume(volume.name), kind: .create, reason: "not on disk")
        }
    }
}
