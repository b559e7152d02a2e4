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

    func run() throws {
        let spec = try spec.load()
        let engine = try options.engine()
        let plan = try SpecInput.reportingSpecErrors(path: self.spec.file) { try engine.plan(spec).plan }
        switch output {
        case .text: Console.out(PlanText(color: Console.colorOnStdout).render(plan))
        case .json: Console.out(try PlanJSON.render(plan))
        }
        if detailedExitcode && plan.hasChanges { throw ExitCode(2) }
    }
}
