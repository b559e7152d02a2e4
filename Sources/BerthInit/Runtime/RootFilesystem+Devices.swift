import Glibc
import SystemPackage

extension RootFilesystem {
    /// The spec's devices in the container's /dev: the host's node bind-mounted at the
    /// same path (as the standard nodes are: /dev itself is nodev). The cgroup's device
    /// policy is what lets the container open it.
    func bindDevices(_ root: FileDescriptor) throws {
        for device in config.devices {
            let point = try Mounts.openInRoot(root, device.path, create: .file)
            defer { try? point.close() }
            try Mounts.mount(device.path, on: Mounts.fdPath(point), type: nil, flags: Mounts.bind, what: device.path)
        }
    }
}
