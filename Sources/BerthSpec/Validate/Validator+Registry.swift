extension Validator {
    /// `pull:` is one of the policies and belongs to a container whose `image:` is a registry
    /// reference (a local source is imported, never pulled).
    func checkPull(_ container: inout Container, fields: Fields, path: String) {
        guard let field = fields["pull"] else { return }
        let p = join(path, "pull")
        guard let text = string(field.value, p) else { return }
        guard let policy = PullPolicy(rawValue: text) else {
            let names = PullPolicy.allCases.map(\.rawValue)
            error(field.value.location, p, "\(quoted(text)) is not a pull policy",
                  hint: Suggestions.hint(for: text, among: names) ?? "use one of: \(names.joined(separator: ", "))")
            return
        }
        switch container.image {
        case .registry?:
            container.pull = policy
        case let local?:
            error(field.key.location, p, "pull applies to registry images only; \(local) is a local source",
                  hint: "remove pull: (apply imports a local source again when it changes)")
        case nil:
            // Without an image the missing image is the error already reported (or rootfs is used).
            if fields["image"] == nil {
                error(field.key.location, p, "pull is only allowed with an image", hint: "remove pull:, or give a registry image such as postgres:16")
            }
        }
    }
}
