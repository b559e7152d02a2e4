import Dispatch
import FoundationEssentials
import Synchronization

/// Independent reads of many objects, spread over the machine's CPUs.
///
/// Observing a project reads each container's files under /proc, /sys/fs/cgroup and
/// the state directory and decodes its record: work of the kernel and the CPU that
/// does not depend on the other containers, so on an idle core it runs beside them.
enum Concurrently {
    /// Below this many items one thread does it all: waking others costs more.
    static let threshold = 8

    /// Off in `berth reconcile`: a process that stays keeps the pool's threads and
    /// their malloc arenas resident, and its passes at rest read only what changed.
    static let enabled = Atomic<Bool>(true)

    /// `body` of every item, in the items' order, on up to one thread per CPU. When
    /// any fails, the error of the first failing item (in order) is thrown, after all
    /// have run (each read stands alone, and none changes anything).
    static func map<Item: Sendable, Value: Sendable>(
        _ items: [Item], _ body: @Sendable (Item) throws -> Value
    ) throws -> [Value] {
        guard items.count >= threshold, enabled.load(ordering: .relaxed),
              ProcessInfo.processInfo.activeProcessorCount > 1 else {
            return try items.map(body)
        }
        return try results(items, body).map { try $0.get() }
    }

    /// `body` of every item at once, whatever the count and also in the reconciler (for
    /// work that mostly waits, like healthchecks up to their timeouts): each item's
    /// result or error, in the items' order.
    static func results<Item: Sendable, Value: Sendable>(
        _ items: [Item], _ body: @Sendable (Item) throws -> Value
    ) -> [Result<Value, any Error>] {
        let slots = Slots<Value>(count: items.count)
        DispatchQueue.concurrentPerform(iterations: items.count) { i in
            slots.set(i, Result { try body(items[i]) })
        }
        return slots.values()
    }

    /// One slot per item, each written by exactly one thread.
    private final class Slots<Value: Sendable>: Sendable {
        private let slots: Mutex<[Result<Value, any Error>?]>
        init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }
        func set(_ i: Int, _ value: Result<Value, any Error>) { slots.withLock { $0[i] = value } }
        func values() -> [Result<Value, any Error>] { slots.withLock { $0.map { $0! } } }
    }
}
