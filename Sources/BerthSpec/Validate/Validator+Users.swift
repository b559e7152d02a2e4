extension Validator {
    /// `user:`: a name or number, optionally `:group`. Names are only checked for their
    /// form here; whether they exist is for the engine, which reads the container's root.
    func checkUser(_ node: YAMLNode, _ path: String) -> User? {
        guard let s = node.scalar, s.kind == .string || s.kind == .int else {
            error(node.location, path, "must be user[:group], found \(node.kindDescription)",
                  hint: "write e.g. postgres, or \"1000:1000\"")
            return nil
        }
        do {
            var user = try User(parsing: s.value)
            user.source = SpecPosition(file: file, location: node.location, path: path)
            return user
        } catch {
            self.error(node.location, path, error)
            return nil
        }
    }

    /// The numeric parts of `user` must be mapped by the user namespace; names are checked
    /// once they resolve (at plan time).
    func checkUserIsMapped(_ user: User, _ userns: UserNamespace, at location: SourceLocation, path: String) {
        if case .id(let uid) = user.user, !userns.mapsUID(uid) {
            error(location, path, "uid \(uid) is not mapped by userns.uidMap", hint: "the process would run as the overflow uid")
        }
        // Without a group the gid comes from /etc/passwd: checked when it resolves.
        if case .id(let gid)? = user.group, !userns.mapsGID(gid) {
            error(location, path, "gid \(gid) is not mapped by userns.gidMap", hint: "the process would run as the overflow gid")
        }
    }
}
