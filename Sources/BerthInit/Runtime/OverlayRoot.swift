import Glibc
import SystemPackage

/// A container root made of image layers: overlayfs with the layers as lower directories
/// (shared by every container of the image, never written) and an upper and work
/// directory of the container's own, which keep its writes across restarts.
public struct OverlayRoot: Codable, Sendable, Equatable {
    /// Top-most first, as overlayfs's `lowerdir` lists them.
    public var lower: [String]
    public var upper: String
    public var work: String

    public init(lower: [String], upper: String, work: String) {
        self.lower = lower
        self.upper = upper
        self.work = work
    }

    /// The mount options; each path is checked for the characters overlayfs splits on.
    func options() throws -> String {
        for path in lower + [upper, work] where path.contains(":") || path.contains(",") || path.contains("\\") {
            throw KernelError("mount overlay", path, detail: "a layer path with ':', ',' or '\\' cannot be given to overlayfs")
        }
        // A container's root never needs overlayfs's own extras; off keeps mounts portable
        // between kernels (an index or redirect written by one may be refused by another).
        return "lowerdir=\(lower.joined(separator: ":")),upperdir=\(upper),workdir=\(work),index=off,redirect_dir=off"
    }

    /// Mounts the overlay on `target` (in the caller's mount namespace), nodev and nosuid-less
    /// as the rest of the root: set-id programs of an image work, devices never do.
    public func mount(on target: String) throws {
        try Mounts.mount("overlay", on: target, type: "overlay", flags: Mounts.noDev, data: try options(),
                         what: "overlay root \(target)")
    }

    /// Whether this machine's kernel takes an overlay with its upper and work directories
    /// where these are: mounts one on a scratch directory beside them and unmounts it.
    public func probe(scratch: String) -> KernelError? {
        do {
            try mount(on: scratch)
        } catch let error as KernelError {
            return error
        } catch {
            return KernelError("mount overlay", scratch, detail: "\(error)")
        }
        umount2(scratch, Int32(MNT_DETACH))
        return nil
    }
}
