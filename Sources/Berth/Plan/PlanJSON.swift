import FoundationEssentials

/// The plan as a stable, versioned JSON document for tools (see docs/plan-json.md).
public enum PlanJSON {
    /// Bumped on any incompatible change to the document's shape.
    public static let formatVersion = 1

    struct Document: Encodable {
        var formatVersion: Int
        var project: String
        var changes: Bool
        var summary: Summary
        var actions: [Action]
    }

    struct Summary: Encodable {
        var add, change, replace, destroy: Int
    }

    struct Object: Encodable {
        var kind: String
        var name: String
        var address: String
    }

    struct Action: Encodable {
        var object: Object
        var action: String
        var reason: String
        var drifted: Bool
        var before: [String: String?]
        var after: [String: String?]
        var forcesReplacement: [String]
        var drift: [String: Drift]
        var changes: [FieldChange]
    }

    public static func render(_ plan: Plan) throws -> String {
        let doc = Document(
            formatVersion: formatVersion,
            project: plan.project,
            changes: plan.hasChanges,
            summary: Summary(add: plan.count(.create), change: plan.count(.update) + plan.count(.start),
                             replace: plan.count(.replace), destroy: plan.count(.destroy)),
            actions: plan.actions.map { a in
                Action(
                    object: Object(kind: a.object.kind.rawValue, name: a.object.name, address: a.object.description),
                    action: a.kind.rawValue,
                    reason: a.reason,
                    drifted: a.drifted,
                    before: Dictionary(uniqueKeysWithValues: a.changes.map { ($0.field, $0.old) }),
                    after: Dictionary(uniqueKeysWithValues: a.changes.map { ($0.field, $0.new) }),
                    forcesReplacement: a.changes.filter(\.forcesReplacement).map(\.field),
                    drift: Dictionary(uniqueKeysWithValues: a.changes.compactMap { c in c.drift.map { (c.field, $0) } }),
                    changes: a.changes)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(doc), as: UTF8.self)
    }
}
