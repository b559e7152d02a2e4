import BerthSpec

/// An apply that stopped part way: what was done, what failed and why.
///
/// A batch of starts that run side by side (`apply --parallel`) ends as a whole: every
/// start in it that failed is one of ``failures`` (in plan order), each undone by itself.
public struct ApplyError: Error, CustomStringConvertible, Sendable {
    /// One step that failed.
    public struct Failure: Sendable {
        public var action: PlannedAction
        public var underlying: any Error
        /// Where the spec declares the object (`containers.web` at its line); nil for a spec
        /// made in code, or for an object the spec no longer has (a destroy).
        public var position: SpecPosition?
    }

    /// Never empty; in plan order.
    public var failures: [Failure]
    public var done: [PlannedAction]

    /// The first step that failed, in plan order.
    public var failed: PlannedAction { failures[0].action }
    public var underlying: any Error { failures[0].underlying }

    public init(failures: [(PlannedAction, any Error)], done: [PlannedAction], source: SpecSource) {
        precondition(!failures.isEmpty, "an ApplyError names at least one failed step")
        let paths = failures.map { Self.specPath(of: $0.0.object) }
        // The spec is parsed again only now, to point at the objects that failed.
        let places = source.file.isEmpty ? [:] : source.positions(of: paths)
        self.failures = zip(failures, paths).map { failure, path in
            let place = places[path].flatMap { $0.location == .file ? nil : $0 }
            return Failure(action: failure.0, underlying: failure.1, position: place)
        }
        self.done = done
    }

    public init(failed: PlannedAction, underlying: any Error, done: [PlannedAction], source: SpecSource) {
        self.init(failures: [(failed, underlying)], done: done, source: source)
    }

    /// The key path of an object in the spec: `containers.web`, `networks.front`, `volumes.data`.
    static func specPath(of object: ObjectRef) -> String {
        switch object.kind {
        case .container: "containers.\(object.name)"
        case .network: "networks.\(object.name)"
        case .volume: "volumes.\(object.name)"
        }
    }

    public var description: String {
        var s = ""
        for f in failures {
            if let place = f.position { s += "\(place.file):\(place.location): " }
            s += "\(f.action.object.kind.rawValue) \(f.action.object.name): \(f.action.kind.rawValue) failed: \(f.underlying)\n"
        }
        if done.isEmpty {
            s += "Nothing else was changed."
        } else {
            s += "Done before the failure: " + done.map { "\($0.kind.rawValue) \($0.object.name)" }.joined(separator: ", ") + "."
        }
        let undoFailures = failures.compactMap { $0.underlying as? UndoFailed }
        if undoFailures.isEmpty {
            s += "\nNothing was left half-made; run apply again to continue from here."
        } else {
            let left = undoFailures.flatMap(\.undo).map { "\($0)" }
            s += "\nLeft behind, as undoing the step failed: \(left.joined(separator: "; "))."
            s += "\nRun apply again to remove it and continue from here."
        }
        return s
    }
}
