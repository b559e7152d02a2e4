extension Validator {
    /// A container's root and program: exactly one of `image:` and `rootfs:`; `command` is
    /// required with `rootfs:` and optional with `image:` (the image's Entrypoint/Cmd then);
    /// `entrypoint` only with `image:`.
    func checkRootAndCommand(_ container: inout Container, fields: Fields, entry: YAMLNode.Entry, path: String) {
        let image = fields["image"]
        let rootfs = fields["rootfs"]
        container.rootfs = ""
        container.command = []

        switch (image, rootfs) {
        case (let image?, let rootfs?):
            // The one written second is the one in the way.
            let later = image.key.location.line > rootfs.key.location.line
                || (image.key.location.line == rootfs.key.location.line && image.key.location.column > rootfs.key.location.column)
                ? image : rootfs
            error(later.key.location, join(path, later.key.value), "a container has either image or rootfs, not both",
                  hint: "keep `image:` and remove `rootfs:` (or the other way round)")
        case (let image?, nil):
            container.image = checkImage(image.value, join(path, "image"))
        case (nil, let rootfs?):
            container.rootfs = hostPath(rootfs.value, join(path, "rootfs")) ?? ""
        case (nil, nil):
            error(entry.key.location, path, "missing \"image\" or \"rootfs\"",
                  hint: "add e.g. `image: oci:./images/busybox:latest`, or `rootfs: ./rootfs/busybox` (a directory, relative to the spec file)")
        }

        if let command = fields["command"] {
            container.command = checkCommand(command.value, join(path, "command"))
        } else if image == nil {
            error(entry.key.location, path, "missing \"command\"", hint: "add e.g. `command: [\"/bin/sh\", \"-c\", \"sleep 3600\"]`")
        }

        if let entrypoint = fields["entrypoint"] {
            let p = join(path, "entrypoint")
            let argv = checkCommand(entrypoint.value, p)
            if image == nil {
                error(entrypoint.key.location, p, "entrypoint is only allowed with an image",
                      hint: "with rootfs, put the whole argv in command")
            } else {
                container.entrypoint = argv
            }
        }
    }

    private func checkImage(_ node: YAMLNode, _ path: String) -> ImageSource? {
        guard let text = string(node, path) else { return nil }
        guard !text.isEmpty else {
            error(node.location, path, "is empty", hint: "write e.g. oci:./images/web:1.0, docker-archive:./app.tar or postgres:16")
            return nil
        }
        do {
            return try ImageSource(parsing: text) { Paths.resolve($0, against: baseDirectory) }
        } catch {
            self.error(node.location, path, error)
            return nil
        }
    }
}
