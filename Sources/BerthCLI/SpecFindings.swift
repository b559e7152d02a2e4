import ArgumentParser
import Berth
import FoundationEssentials

extension SpecInput {
    /// Runs `body`; a ``SpecError`` it throws (a problem of the spec that only the machine
    /// shows, such as a `user:` name the container's /etc/passwd lacks) is printed like a
    /// validation error, quoting the spec's lines, and the command exits 1.
    public static func reportingSpecErrors<T>(path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var error as SpecError {
            if error.source == nil, path != "-" {
                error.source = FileManager.default.contents(atPath: path).map { Array($0) }
            }
            StandardStreams.writeError(DiagnosticRenderer.forStandardError().render(error))
            throw ExitCode.failure
        }
    }
}
