import BerthSpec

/// One thing the machine refuses about a spec, found by preflight: the spec field that is the
/// cause (its key path, as validation names fields) and what is wrong with it.
public struct PreflightProblem: Sendable, Equatable, CustomStringConvertible {
    /// `containers.web.rootfs`, `networks.front.subnet`, ...
    public var path: String
    /// `/srv/web is not a directory`
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    /// `containers.web.rootfs: /srv/web is not a directory`
    public var description: String { "\(path): \(message)" }
}

/// The machine cannot take the spec as it is; nothing was changed.
///
/// Each problem is a ``Diagnostic`` at its field's place in the spec file, rendered like a
/// validation error: `demo.yaml:7:13: error: containers.web.rootfs: /srv/web is not a directory`.
public struct PreflightError: Error, CustomStringConvertible, Sendable {
    public var problems: [PreflightProblem]
    /// The problems at their places, in the order found.
    public var diagnostics: [Diagnostic]
    /// What the spec was loaded from, for quoting its lines.
    public var source: SpecSource

    public init(problems: [PreflightProblem], source: SpecSource) {
        self.problems = problems
        self.source = source
        let places = source.positions(of: problems.map(\.path))
        diagnostics = problems.map { problem in
            (places[problem.path] ?? SpecPosition(file: source.file, location: .file, path: problem.path))
                .diagnostic(problem.message)
        }
    }

    public var description: String {
        diagnostics.map { d in
            // A spec made in code has no file: the problem alone, as berth said it before files.
            d.file.isEmpty ? "berth: error: \(d.path): \(d.message)" : d.description
        }.joined(separator: "\n") + "\nNothing was changed."
    }
}
