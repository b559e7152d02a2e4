import BerthSpec
import Dispatch
import FoundationEssentials
import Synchronization

extension Applier {
    /// Whether an action may run beside others: creating or starting again a container
    /// (the slow part of an apply: clone, root, network, exec). Replaces and destroys keep
    /// their order (a stop waits for its own timeout; removals free names and addresses).
    static func startsAContainer(_ action: PlannedAction) -> Bool {
        action.object.kind == .container && (action.kind == .create || action.kind == .start)
    }

    /// The actions from `start` that may run side by side: consecutive container starts,
    /// none of which depends on another of them (the plan is in dependency order, so a
    /// dependent never comes before what it waits for; each still waits for its dependencies
    /// started earlier, as alone).
    static func batch(_ actions: [PlannedAction], from start: Int, spec: Spec) -> Range<Int> {
        guard startsAContainer(actions[start]) else { return start..<(start + 1) }
        var names: Set<String> = []
        var end = start
        while end < actions.count, startsAContainer(actions[end]) {
            let name = actions[end].object.name
            let needs = spec.container(named: name)?.dependsOn.map(\.name) ?? []
            if needs.contains(where: names.contains) { break }
            names.insert(name)
            end += 1
        }
        return start..<end
    }

    /// Runs the actions of one batch with at most ``parallelStarts`` at a time. Every one
    /// runs to its end (a start that fails undoes itself); returns each one's outcome, in order.
    func runSideBySide(_ actions: ArraySlice<PlannedAction>, plan: Plan, spec: Spec, records: ProjectRecords)
        -> [Result<String?, any Error>]
    {
        let outcomes = Outcomes(count: actions.count)
        let slots = DispatchSemaphore(value: max(1, parallelStarts))
        let group = DispatchGroup()
        let queue = DispatchQueue(label: "berth.apply.start", attributes: .concurrent)
        for (i, action) in zip(actions.indices, actions) {
            slots.wait()
            queue.async(group: group) {
                defer { slots.signal() }
                let began = ContinuousClock.now
                let result = Result { try run(action, plan: plan, spec: spec, records: records) }
                if case .success(let line?) = result {
                    output(ApplyStep(action: action, summary: line, milliseconds: (ContinuousClock.now - began).milliseconds))
                }
                outcomes.set(i - actions.startIndex, result)
            }
        }
        group.wait()
        return outcomes.all
    }

    private final class Outcomes: Sendable {
        private let values: Mutex<[Result<String?, any Error>]>
        init(count: Int) { values = Mutex(Array(repeating: .success(nil), count: count)) }
        func set(_ i: Int, _ value: Result<String?, any Error>) { values.withLock { $0[i] = value } }
        var all: [Result<String?, any Error>] { values.withLock { $0 } }
    }
}
