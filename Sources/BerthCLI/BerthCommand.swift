import ArgumentParser
import Berth

/// The `berth` command line.
public struct BerthCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "A declarative container orchestrator for one Linux host.",
        version: "0.1.0-dev",
        subcommands: [
            ValidateCommand.self, PlanCommand.self, ApplyCommand.self, StatusCommand.self,
            DestroyCommand.self, ReconcileCommand.self, LogsCommand.self, ExecCommand.self,
            ImageCommand.self,  // images
        ]
    )
    public init() {}
}
