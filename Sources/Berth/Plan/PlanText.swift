/// Renders a plan as text, in the convention people know from Terraform.
///
/// ```
///   ~ container web: changed in the spec
///       resources.memory: 64Mi -> 128Mi
/// -/+ container api: command cannot change on a live container
///       command: [sleep, 1] -> [sleep, 2]  (forces replacement)
///
/// Plan: 0 to add, 1 to change, 1 to replace, 0 to destroy.
/// ```
public struct PlanText: Sendable {
    public var color: Bool

    public init(color: Bool) { self.color = color }

    public func render(_ plan: Plan) -> String {
        var out = ""
        let shown = plan.actions.filter { $0.kind != .noop }
        for action in shown {
            let symbol = action.kind.symbol
            let pad = String(repeating: " ", count: max(0, 3 - symbol.count))
            let head = "\(pad)\(paint(symbol, action.kind)) \(action.object.kind.rawValue) \(action.object.name)"
            var reason = action.reason
            if action.drifted && !reason.contains("outside berth") { reason = "changed outside berth: " + reason }
            out += "\(head): \(verb(action))\(reason.isEmpty ? "" : " (\(reason))")\n"
            for change in action.changes {
                out += "      \(change.field): \(value(change.old)) -> \(value(change.new))"
                if change.forcesReplacement { out += paint("  # forces replacement" + (change.note.map { ", " + $0 } ?? ""), .replace) }
                if let drift = change.drift {
                    // The old value shown is the kernel's; say what berth had applied when the spec moved on since.
                    let note = drift.applied == change.new ? "  # drift" : "  # drift: berth applied \(value(drift.applied))"
                    out += paint(note, .destroy)
                }
                out += "\n"
            }
        }
        if !shown.isEmpty { out += "\n" }
        out += plan.summary + "\n"
        return out
    }

    func verb(_ a: PlannedAction) -> String {
        switch a.kind {
        case .create: "will be created"
        case .update: "will be updated in place"
        case .replace: "must be replaced"
        case .destroy: "will be destroyed"
        case .start: "will be started again"
        case .leave: "left as it is"
        case .noop: "no changes"
        }
    }

    func value(_ v: String?) -> String { v ?? "(unset)" }

    func paint(_ s: String, _ kind: ActionKind) -> String {
        guard color else { return s }
        let code: String
        switch kind {
        case .create: code = "32"
        case .update, .start: code = "33"
        case .replace: code = "35"
        case .destroy: code = "31"
        case .noop, .leave: return s
        }
        return "\u{1B}[\(code)m\(s)\u{1B}[0m"
    }
}
