import Glibc
import SystemPackage

/// Named places where a test can make berth crash or fail, as the engines people trust
/// are tested: `BERTH_FAILPOINT=apply.after-cgroup-create:kill` (SIGKILL there) or
/// `...:error` (the step fails with EIO). Several are separated by commas. Off unless
/// the variable names one; compiled into every build, so the binary tested is the one
/// shipped. Cost when off: one dictionary lookup of an empty dictionary.
///
/// Every failpoint is a case here, so that the walk over all of them
/// (FailpointTests) covers new ones as soon as they are added: add yours, with the
/// step it follows, where your feature leaves something behind when it crashes.
public enum Failpoint: String, CaseIterable, Sendable {
    // Creating a container (Engine.start, for create, start again and replace).
    /// The container's directory exists (no record yet: it is written once, when the
    /// container runs); nothing is in the kernel yet.
    case startAfterDirectory = "start.after-directory"
    /// The container's cgroup exists, without its limits.
    case startAfterCgroup = "start.after-cgroup-create"
    /// The cgroup has its limits.
    case startAfterLimits = "start.after-limits"
    /// berth init runs in the cgroup, not yet attached to its networks.
    case startAfterSpawn = "start.after-spawn"
    /// Attached to its networks; the command has not been released yet.
    case startAfterAttach = "start.after-attach"
    /// The command runs; the record does not have its pid yet.
    case startBeforeRecord = "start.before-record"

    // Updating a running container in place.
    /// New limits written, the record not updated.
    case updateAfterLimits = "update.after-limits"
    /// Every change made, the record not updated.
    case updateBeforeRecord = "update.before-record"

    // Replacing: the old one stopped, the new one not started.
    case replaceAfterStop = "replace.after-stop"

    // Destroying a container.
    /// Its processes and cgroup are gone, its records not.
    case destroyAfterStop = "destroy.after-stop"

    // Networks.
    /// Addresses handed out by the plan recorded in one network's record (IPAM).
    case ipamAfterRecord = "ipam.after-record"
    /// A new bridge exists, without its gateway address and firewall rules.
    case networkAfterBridge = "network.after-bridge"
    /// The bridge and its rules exist, its record is not written.
    case networkBeforeRecord = "network.before-record"
    /// A removed network's bridge and rules are gone, its record is not.
    case networkAfterDelete = "network.after-delete"
    /// Before berth's call into the firewall changes a network's rules.
    case firewallBeforeChange = "firewall.before-change"
    /// A container's veth pair made (on start, or when attached in place), not yet
    /// configured (MTU, address, default route).
    case attachAfterVeth = "attach.after-veth"

    // Importing an image into the store (berth image import, apply's import of a local
    // image:, a registry pull): each piece is renamed into place whole, the image is
    // recorded in images.json last.
    /// A blob is verified and in place; the image is not recorded.
    case imageAfterBlob = "image.after-blob"
    /// A layer is unpacked and in place; the image is not recorded.
    case imageAfterLayer = "image.after-layer"
    /// Every blob and layer is in place; images.json is not written.
    case imageBeforeRecords = "image.before-records"

    // A lan network taking its uplink NIC over (LanTests walk these: they need a spec with one).
    /// The NIC's addresses and routes are recorded in the network's record; nothing changed yet.
    case lanAfterRecord = "lan.after-record"
    /// The bridge exists (the NIC's MAC, STP off), without addresses.
    case lanAfterBridge = "lan.after-bridge"
    /// The NIC's addresses are on the bridge too; the NIC is not a port yet.
    case lanAfterBridgeAddresses = "lan.after-bridge-addresses"
    /// The NIC is a port of the bridge; its routes still leave by it, its addresses are still on it.
    case lanAfterEnslave = "lan.after-enslave"
    /// The routes leave by the bridge; the NIC still has its addresses.
    case lanAfterRoutes = "lan.after-routes"
    /// The takeover is done; the router has not been asked yet.
    case lanBeforeGatewayCheck = "lan.before-gateway-check"
    /// Giving the NIC back: its addresses are back and it left the bridge, its routes not yet.
    case lanGiveBackAfterNIC = "lan.give-back-after-nic"

    /// Undoing a failed start (killing and removing its cgroup): armed with a step's
    /// `:error`, the undo fails too (or berth dies in it).
    case startRollback = "start.rollback"

    // Observing (a failing read, which the machine cannot be made to produce).
    /// Reading a running container's links and addresses over rtnetlink.
    case observeNetlink = "observe.netlink"

    /// Failpoints reached only when another step failed first, with that step.
    public var needs: Failpoint? { self == .startRollback ? .startAfterLimits : nil }

    /// Failpoints reached only by a spec with a lan network.
    public var needsLanNetwork: Bool { rawValue.hasPrefix("lan.") }

    /// Failpoints of reading only: reached before anything is changed.
    public var isObservation: Bool { self == .observeNetlink }

    /// Failpoints of the image store, reached by an import before the project is planned.
    public var isImageImport: Bool { [.imageAfterBlob, .imageAfterLayer, .imageBeforeRecords].contains(self) }

    /// What a failpoint does when reached.
    public enum Action: String, Sendable {
        /// SIGKILL to berth itself: nothing runs after it, as in a power cut.
        case kill
        /// The step fails with EIO: the rollback path runs.
        case error
    }

    /// The environment variable that arms failpoints.
    public static let variable = "BERTH_FAILPOINT"

    /// The armed failpoints, read once from the environment.
    static let armed: [Failpoint: Action] = parse(getenv(variable).map { String(cString: $0) } ?? "")

    /// `name:kill,name:error`. Unknown names and actions are ignored (an old binary with a new test).
    static func parse(_ text: String) -> [Failpoint: Action] {
        var out: [Failpoint: Action] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let point = Failpoint(rawValue: parts[0]),
                  let action = Action(rawValue: parts[1]) else { continue }
            out[point] = action
        }
        return out
    }

    /// Reached: does nothing unless armed.
    public func hit() throws(KernelError) {
        guard let action = Self.armed[self] else { return }
        switch action {
        case .kill:
            kill(getpid(), SIGKILL)
            // SIGKILL is not delivered synchronously on every path; never run past it.
            while true { pause() }
        case .error:
            throw KernelError("failpoint", rawValue, errno: .ioError)
        }
    }
}
