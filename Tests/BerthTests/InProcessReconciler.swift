@testable import Berth
import Logging

extension Sandbox {
    /// A reconciler of the sandbox's spec in the test's own process (its passes and events
    /// driven by the test), quiet, hearing hostname changes as `berth reconcile` does
    /// (unless told not to: as on a host where that cannot be heard).
    func reconciler(watchingHostnames: Bool = true) throws -> Reconciler {
        let spec = try SpecLoader.load(path: specPath).get()
        let engine = try Engine.host(stateDirectory: stateDirectory, executable: berthInit)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let reconciler = Reconciler(engine: engine, specPath: specPath, spec: spec, interval: 1, logger: logger)
        if watchingHostnames { try reconciler.events.watchHostnames() }
        return reconciler
    }
}
