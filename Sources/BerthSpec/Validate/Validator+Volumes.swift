extension Validator {
    struct VolumeMountFacts {
        var volume: String
        var location: SourceLocation
        var path: String
    }

    /// Top-level `volumes: {NAME: {}}`. A volume has no options yet: `{}` or nothing.
    func checkVolumes(_ node: YAMLNode) -> [Volume] {
        guard let entries = namedEntries(of: node, path: "volumes", what: "a mapping of volume names to volumes") else {
            return []
        }
        var volumes: [Volume] = []
        for entry in entries {
            let name = entry.key.value
            let path = "volumes.\(name)"
            declaredVolumes.append(name)
            if let problem = Names.problem(with: name, maxLength: Names.volumeMaxLength) {
                error(entry.key.location, path, "the volume name \(quoted(name)) \(problem)")
                continue
            }
            if entry.value.scalar?.kind != .null {
                guard let options = mapping(entry.value, path, what: "a volume (write `{}`)") else { continue }
                let unknown = options.filter { !Validator.isExtension($0.key.value) }
                for option in unknown {
                    error(option.key.location, join(path, option.key.value),
                          "unknown key \(quoted(option.key.value)): a volume has no options yet", hint: "write `\(name): {}`")
                }
                if !unknown.isEmpty { continue }
            }
            volumes.append(Volume(name: name))
        }
        return volumes
    }

    /// `{volume: NAME, target: PATH, readOnly: BOOL}` (`type: volume` may be written too).
    func checkVolumeMount(_ fields: Fields, item: YAMLNode, type: String, target: String, readOnly: Bool,
                          path: String) -> Mount? {
        if type != "volume", let t = fields["type"] {
            error(t.value.location, join(path, "type"), "a mount with `volume:` is of type volume, not \(type)",
                  hint: "remove `type:`")
            return nil
        }
        for key in ["source", "size"] {
            if let extra = fields[key] {
                error(extra.key.location, join(path, key), "a volume mount has no \(key)",
                      hint: key == "source" ? "the volume is the source" : nil)
                return nil
            }
        }
        guard let v = fields["volume"] else {
            error(item.location, path, "missing \"volume\"", hint: "name a volume of the top-level volumes:, e.g. `volume: data`")
            return nil
        }
        guard let name = string(v.value, join(path, "volume")) else { return nil }
        volumeMountFacts.append(VolumeMountFacts(volume: name, location: v.value.location, path: join(path, "volume")))
        return .volume(name: name, target: target, readOnly: readOnly)
    }

    /// Every `{volume: NAME}` names a volume of the top-level `volumes:`.
    func checkVolumeMounts() {
        let declared = Set(declaredVolumes)
        for facts in volumeMountFacts where !declared.contains(facts.volume) {
            error(facts.location, facts.path, "\(quoted(facts.volume)) is not a volume of this spec",
                  hint: Suggestions.hint(for: facts.volume, among: declaredVolumes)
                    ?? (declaredVolumes.isEmpty ? "declare it under the top-level volumes:, e.g. `volumes: {\(facts.volume): {}}`"
                        : declaredVolumes.count <= 10 ? "declared: \(declaredVolumes.joined(separator: ", "))" : nil))
        }
    }
}
