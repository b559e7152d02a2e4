import ArgumentParser
import Berth
import BerthSpec
import Glibc

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make the kernel match the spec, and print what was done.",
        discussion: """
        Validates the whole spec and checks the machine (root filesystems, commands, devices) \
        before the first change. Containers that left the spec are destroyed as the plan shows. \
        Applies to one project are serialised by a lock.
        """)

    @OptionGroup var spec: SpecFileOption
    @OptionGroup var options: EngineOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: ArgumentHelp("How long to wait for another apply of the project to finish.", valueName: "duration"))
    var lockTimeout: String = "60s"
    @Option(help: ArgumentHelp("How long a container waits for the conditions of its dependsOn (started, healthy, completed).",
                               valueName: "duration"))
    var waitTimeout: String = "2m"
    // operations
    @Flag(help: ArgumentHelp("Wait until every container runs, or is healthy where it has a healthcheck (a job: has completed), up to --wait-timeout."))
    var wait = false
    @Option(help: ArgumentHelp("Containers with no order between them started at once, at most (1: one by one).",
                               valueName: "n"))
    var parallel: Int = Applier.defaultParallelStarts
    @Option(help: ArgumentHelp("Watch each started container until it has run this long, and report a command that ends "
                               + "meanwhile (default: 0s, look once at the end; with --wait: 1s).", valueName: "duration"))
    var settle: String?

    func run() throws {
        let spec = try spec.load()
        let timeout = try seconds(lockTimeout, option: "--lock-timeout")
        let waitTimeout = try seconds(self.waitTimeout, option: "--wait-timeout")
        let settle = try self.settle.map { try seconds($0, option: "--settle") } ?? (wait ? Self.waitSettle : 0)
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        let engine = try options.engine()
        let lock = try engine.lock(project: spec.project, command: "apply", timeout: timeout, onWait: Console.err)
        defer { lock.release() }
        // images: local sources missing from the store, or changed, are imported before the plan.
        let tty = isatty(2) != 0
        let pulls = RegistryPulls(engine: engine, configuration: try registry.configuration())
        let (plan, _, records) = try SpecInput.reportingSpecErrors(path: self.spec.file) {
            // registry: images pulled per `pull:` before the plan, so that it shows what they are.
            try pulls.pullForApply(spec) { Console.err($0) }
            try engine.importImages(spec) { if tty { Console.err($0) } }
            return try engine.plan(spec)
        }
        for warning in try LanWarnings.check(spec) { Console.err("berth: warning: \(warning)") }
        do {
            let report = try engine.apply(spec, plan: plan, records: records, waitTimeout: waitTimeout,
                                          parallelStarts: parallel) { Console.out($0.line) }
            // A spec that leaves the project nothing leaves no trace of it either.
            if spec.containers.isEmpty, spec.networks.isEmpty {
                try engine.removeProjectIfEmpty(spec.project, holding: [lock])
            }
            Console.out(report.summary)
            try reportOutcome(engine: engine, spec: spec, report: report, waitTimeout: waitTimeout, settle: settle)
        } catch let error as PreflightError {
            // Like validation errors: each at its field, with the spec's line under it.
            let source = error.source.bytes.isEmpty ? nil : error.source.bytes
            StandardStreams.writeError(DiagnosticRenderer.forStandardError()
                .render(SpecError(diagnostics: error.diagnostics, source: source)))
            Console.err("Nothing was changed.")
            throw ExitCode.failure
        }
    }

    /// How long `--wait` wants a container without a healthcheck to have run before it is
    /// ready, unless `--settle` says otherwise: a command that fails at once (a config it
    /// cannot read) does so well within a second.
    static let waitSettle = 1.0

    /// What became of what apply started: a command that already ended (or ends within
    /// `settle` of its start) is reported with its status (exit 1 unless its restart policy
    /// expects it); `--wait` waits for every container.
    func reportOutcome(engine: Engine, spec: Spec, report: ApplyReport, waitTimeout: Double, settle: Double) throws {
        let exited = try engine.exitedDuringApply(report, spec: spec, settle: wait ? 0 : settle)
        for e in exited where e.expected { Console.out(e.description) }
        if wait {
            do {
                try engine.waitUntilReady(spec, timeout: waitTimeout, settle: settle) { Console.out($0) }
                Console.out("Every container is ready.")
            } catch let failed as ReadinessFailed {
                for error in failed.errors { Console.err("berth: error: \(error)") }
                throw ExitCode.failure
            }
            return
        }
        let unexpected = exited.filter { !$0.expected }
        for e in unexpected { Console.err("berth: error: \(e)") }
        if !unexpected.isEmpty { throw ExitCode.failure }
    }
}
