/// What berth would do to make the kernel match a spec: one action per object,
/// each with its reason and its field-level changes.
///
/// A plan is a pure value, made by ``Planner`` from the spec, the observed state
/// and berth's records; rendering it (``PlanText``, ``PlanJSON``) and executing it
/// (``Applier``) are separate steps.
public struct Plan: Sendable, Equatable {
    public var project: String
    /// In execution order (see ``Planner``).
    public var actions: [PlannedAction]
    /// The address of every attachment, as apply will record and use it.
    public var addresses: IPAM.Assignment

    public init(project: String, actions: [PlannedAction], addresses: IPAM.Assignment = IPAM.Assignment()) {
        self.project = project
        self.actions = actions
        self.addresses = addresses
    }

    /// Actions that change something (everything but `.noop` and `.leave`).
    public var changes: [PlannedAction] { actions.filter { $0.kind.changesSomething } }
    public var hasChanges: Bool { !changes.isEmpty }

    public func count(_ kind: ActionKind) -> Int { actions.filter { $0.kind == kind }.count }

    /// The closing line, Terraform style.
    public var summary: String {
        guard hasChanges else { return "No changes. Running state matches the spec." }
        let change = count(.update) + count(.start)
        return "Plan: \(count(.create)) to add, \(change) to change, \(count(.replace)) to replace, \(count(.destroy)) to destroy."
    }
}

/// The kinds of object berth manages. Networks are one more kind, not a special case.
public enum ObjectKind: String, Sendable, Equatable, Codable, Comparable {
    case network
    case container
    // volumes
    case volume

    public static func < (a: ObjectKind, b: ObjectKind) -> Bool { a.rawValue < b.rawValue }
}

/// A managed object: its kind and its name within the project.
public struct ObjectRef: Sendable, Hashable, Codable, CustomStringConvertible {
    public var kind: ObjectKind
    public var name: String

    public init(_ kind: ObjectKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public static func container(_ name: String) -> ObjectRef { ObjectRef(.container, name) }
    public static func network(_ name: String) -> ObjectRef { ObjectRef(.network, name) }
    public static func volume(_ name: String) -> ObjectRef { ObjectRef(.volume, name) }

    /// `containers.web`, `networks.front`: the key path of the object in the spec.
    public var description: String { "\(kind.rawValue)s.\(name)" }
}

public enum ActionKind: String, Sendable, Equatable, Codable {
    /// The object is missing: make it.
    case create
    /// Change fields in place; a running container keeps its PID.
    case update
    /// A field cannot change on a live object: destroy it, then create it anew.
    case replace
    /// In the project but not in the spec.
    case destroy
    /// A stopped or dead container that its restart policy says to run again.
    case start
    /// Nothing to do.
    case noop
    /// A container that exited and whose restart policy leaves it stopped.
    case leave

    public var changesSomething: Bool {
        switch self {
        case .create, .update, .replace, .destroy, .start: true
        case .noop, .leave: false
        }
    }

    /// Terraform's symbols: `+`, `~`, `-/+`, `-`.
    public var symbol: String {
        switch self {
        case .create: "+"
        case .update, .start: "~"
        case .replace: "-/+"
        case .destroy: "-"
        case .noop, .leave: " "
        }
    }
}

/// One field's change, with values shown as the user wrote them.
public struct FieldChange: Sendable, Equatable, Codable {
    /// Key path within the object, e.g. `resources.memory`.
    public var field: String
    /// The value now in force (what berth last applied, or what the kernel shows for drift); nil = unset.
    public var old: String?
    /// The value after apply; nil = unset.
    public var new: String?
    /// This field cannot change on a live object and forces a replacement.
    public var forcesReplacement: Bool
    /// Set when the kernel's value differs from what berth last applied: someone changed it outside berth.
    public var drift: Drift?
    /// Why the value changed when the spec did not say so: `tag X moved` (registry).
    public var note: String?

    public init(field: String, old: String?, new: String?, forcesReplacement: Bool = false, drift: Drift? = nil, note: String? = nil) {
        self.field = field
        self.old = old
        self.new = new
        self.forcesReplacement = forcesReplacement
        self.drift = drift
        self.note = note
    }
}

/// A value changed outside berth: what berth last applied, and what the kernel shows now.
public struct Drift: Sendable, Equatable, Codable {
    public var applied: String?
    public var observed: String?

    public init(applied: String?, observed: String?) {
        self.applied = applied
        self.observed = observed
    }
}

public struct PlannedAction: Sendable, Equatable {
    public var object: ObjectRef
    public var kind: ActionKind
    /// Why, in words: "not running (killed by SIGKILL); restart: always".
    public var reason: String
    public var changes: [FieldChange]
    /// The object was changed outside berth (a field's value, or its process died).
    public var drifted: Bool

    public init(object: ObjectRef, kind: ActionKind, reason: String, changes: [FieldChange] = [], drifted: Bool = false) {
        self.object = object
        self.kind = kind
        self.reason = reason
        self.changes = changes
        self.drifted = drifted || changes.contains { $0.drift != nil }
    }
}
