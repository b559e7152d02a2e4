import ArgumentParser

/// `berth image …`: the images berth keeps.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Pull and manage images.",
        subcommands: [ImagePullCommand.self])
}
