import ArgumentParser
import Berth

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would change, field by field, without changing anything.",
        discussion: """
        Symbols: + create, ~ update in place, -/+ replace, - destroy. A value changed outside \
        berth is shown as drift. Plan takes no lock and writes no file.
        """)

    @OptionGroup var spec: SpecFileOption
    @OptionGroup var options: EngineOptions
    @Option(help: "text, or json (a stable, versioned document; see docs/plan-json.md).")
    var output: OutputFormat = .text
    @Flag(help: "Exit 0 when there are no changes, 2 when there are, 1 on error.")
    var detailedExitcode = false
    @Flag(help: "Ask the registries which image each tag names now (plan is otherwise offline: it reads the image store).")
    var refresh = false
    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let spec = try spec.load()
        var engine = try options.engine()
        if refresh {
            // registry: a moved tag then shows as a replacement, as apply with `pull: always` would do it.
            let pulls = RegistryPulls(engine: engine, configuration: try registry.configuration())
            for c in spec.containers {
                guard case .registry(let reference)? = c.image, reference.digest == nil else { continue }
                engine.registryDigests[reference.description] = try pulls.remoteManifest(reference, field: "containers.\(c.name).image").description
            }
        }
        let plan = try SpecInput.reportingSpecErrors(path: self.spec.file) { [engine] in try engine.plan(spec).plan }
        for warning in try LanWarnings.check(spec) { Console.err("berth: warning: \(warning)") }
        switch output {
        case .text: Console.out(PlanText(color: Console.colorOnStdout).render(plan))
        case .json: Console.out(try PlanJSON.render(plan))
        }
        if detailedExitcode && plan.hasChanges { throw ExitCode(2) }
    }
}
