import BerthKernel
import FoundationEssentials

extension Engine {
    /// What the image store must hold for the containers a plan starts, checked with the rest of
    /// preflight, before anything changes: the image and a program to run.
    func imageProblems(spec: Spec, plan: Plan) -> [PreflightProblem] {
        let starting = Set(plan.actions.filter { [.create, .replace, .start].contains($0.kind) }.map(\.object.name))
        var out: [PreflightProblem] = []
        for c in spec.containers where starting.contains(c.name) {
            guard let source = c.image else { continue }
            let at = "containers.\(c.name)"
            guard let digest = resolveImage(source), let image = try? images.image(digest) else {
                switch source {
                case .registry where c.pull == .never:
                    out.append(PreflightProblem("\(at).image", "\(source) is not in the image store and pull is never: run `berth image pull \(source)`"))
                case .registry:
                    out.append(PreflightProblem("\(at).image", "\(source) is not in the image store (pull it, or `berth image import` a local copy with --name \(source))"))
                default:
                    out.append(PreflightProblem("\(at).image", "\(source) is not in the image store"))
                }
                continue
            }
            guard let config = try? images.config(of: image) else {
                out.append(PreflightProblem("\(at).image", "the config of \(digest) cannot be read from the image store"))
                continue
            }
            if c.namespaces.contains(.user) {
                out.append(PreflightProblem("\(at).namespaces", "a container from an image cannot have the user namespace yet (its layers are owned by host ids)"))
            }
            let launch = ImageLaunch(container: c, image: config.config)
            if launch.argv.isEmpty {
                out.append(PreflightProblem("\(at).command", "the image has neither Entrypoint nor Cmd: give command"))
            }
        }
        return out
    }
}

extension Render {
    /// `sha256:1a2b3c4d5e6f…`: the algorithm and 12 hex digits, as a plan line shows a digest.
    static func digest(_ digest: String?) -> String {
        guard let digest else { return "(none)" }
        return digest.count > 19 ? String(digest.prefix(19)) + "…" : digest
    }
}
