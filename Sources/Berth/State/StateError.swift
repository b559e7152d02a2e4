import BerthKernel
import Glibc
import SystemPackage

/// A failure of berth's own bookkeeping: its records, its locks, finding a container.
///
/// Code that decides what to do next switches on ``reason``; the one-line message
/// users see (`lock /var/lib/berth/demo/lock: still held by pid 42 (berth apply) after 60s; ...`)
/// is rendered from it.
public struct StateError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// A system call on a state file failed.
        case system(Errno)
        /// Another berth holds the lock (its pid and command, as it wrote them) after waiting this long.
        case lockHeld(holder: String, waited: Double)
        /// A record that cannot be decoded (the decoder's words).
        case corrupt(String)
        /// No container of that name (in that project, when one was named).
        case noSuchContainer(project: String?)
        /// The name exists in several projects.
        case ambiguous(projects: [String])
        /// The container has no running process.
        case notRunning
        /// Another reconciler of the project runs (its pid and command).
        case reconcilerRunning(holder: String)
        /// The project's reconciler was asked to stop and did not within that many seconds.
        case reconcilerDidNotStop(pid: Int32, waited: Double)
        /// Anything else, in words.
        case other(String)
    }

    /// What was attempted, on what: `lock /var/lib/berth/demo/lock`, `read .../record.json`.
    public var operation: String
    public var reason: Reason

    public init(_ operation: String, _ reason: Reason) {
        self.operation = operation
        self.reason = reason
    }

    /// A failure described in words only.
    public init(_ operation: String, _ detail: String) {
        self.init(operation, .other(detail))
    }

    /// The errno of the current thread as a reason.
    static func errno(_ operation: String) -> StateError {
        StateError(operation, .system(Errno(rawValue: Glibc.errno)))
    }

    /// The part of the message after the operation.
    public var detail: String {
        switch reason {
        case .system(let e): return e.description
        case .lockHeld(let holder, let waited):
            return "still held by \(holder) after \(Int(waited))s; try again when it is done"
        case .corrupt(let words): return "not a valid record: \(words)"
        case .noSuchContainer(let project): return "no such container\(project.map { " in project \($0)" } ?? "")"
        case .ambiguous(let projects):
            return "it exists in projects \(projects.joined(separator: ", ")); say which with -p or PROJECT/NAME"
        case .notRunning: return "the container is not running"
        case .reconcilerRunning(let holder): return "another reconciler is running for this project: \(holder)"
        case .reconcilerDidNotStop(let pid, let waited):
            return "its reconciler (pid \(pid)) did not stop within \(Int(waited))s; nothing was changed"
        case .other(let words): return words
        }
    }

    public var description: String { "\(operation): \(detail)" }
}
