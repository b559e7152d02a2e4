import Synchronization

/// Host rtnetlink sockets for reads spread over threads. A socket answers one
/// request at a time, so each concurrent reader needs one of its own; the pool
/// hands an idle one out and takes it back, so that reading N containers costs a
/// socket per thread instead of N sockets (each a socket, bind and five options,
/// and a fresh 32 KiB receive buffer).
public final class RouteNetlinkPool: Sendable {
    private let idle: Mutex<[RouteNetlink]>

    /// `sockets`: ones to hand out first (a host view's, idle while the pool is used).
    public init(_ sockets: [RouteNetlink] = []) {
        idle = Mutex(sockets)
    }

    /// `body` with a socket no other thread uses meanwhile. A socket whose request
    /// failed is dropped rather than handed out again: a dump cut short by an error of
    /// the socket (a timeout, an overrun) can still be running in the kernel.
    public func with<T>(_ body: (RouteNetlink) throws -> T) throws -> T {
        let netlink = try idle.withLock { $0.popLast() } ?? RouteNetlink()
        let result = try body(netlink)
        idle.withLock { $0.append(netlink) }
        return result
    }

    /// The sockets not in use now (for tests).
    var idleCount: Int { idle.withLock { $0.count } }
}
