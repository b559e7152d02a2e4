// CBerth for SOCK_RAW and SOCK_CLOEXEC, as ARP.swift says for MSG_DONTWAIT: the importer
// finds <sys/socket.h>'s constants in this file only through CBerth's headers.
import CBerth
import Glibc
import Synchronization
import SystemPackage

/// Moves datagrams between a netlink socket and the kernel. A protocol only so
/// that a test can replay an interrupted dump, which the kernel will not
/// produce on demand.
protocol NetlinkTransport: Sendable {
    func send(_ bytes: [UInt8]) throws(Errno)
    /// Receives the next datagram into `buffer`, growing it first if the
    /// datagram would not fit; returns the datagram's length.
    func receive(into buffer: inout [UInt8]) throws(Errno) -> Int
}

/// A bound netlink socket that speaks request/answer with the kernel.
///
/// Each request gets the next sequence number; replies with any other
/// sequence number (left over from a request that failed half-way) are
/// skipped. Requests are acknowledged (`NLM_F_ACK`) and an `NLMSG_ERROR`
/// becomes a ``KernelError`` naming the step and the object, with the
/// kernel's extended-ack text when it gives one. Dumps are read to
/// `NLMSG_DONE` and started again when the kernel marks them interrupted
/// (`NLM_F_DUMP_INTR`: the table changed while it was being read).
///
/// The socket belongs to the network namespace of the thread that created
/// it, for its whole life: see ``open(in:protocol:)``. One socket serves any
/// number of requests; requests from several threads are serialised.
public final class NetlinkSocket: Sendable {
    private let transport: any NetlinkTransport
    private let state: Mutex<State>
    private let restarts = Atomic<Int>(0)

    private struct State {
        var sequence: UInt32
        var buffer: [UInt8]
    }

    /// How many times a dump is started again before giving up.
    static let dumpAttempts = 10

    /// Opens a socket of `protocol` (NETLINK_ROUTE by default) in the calling
    /// thread's network namespace: for berth, the host's.
    public convenience init(protocol netlinkProtocol: Int32 = 0) throws {
        try self.init(transport: KernelNetlinkTransport(protocol: netlinkProtocol))
    }

    init(transport: any NetlinkTransport) {
        self.transport = transport
        // 32 KiB holds any dump datagram (the kernel sizes those to what the
        // reader asked for, at most 32 KiB); larger single messages grow it.
        state = Mutex(State(sequence: 0, buffer: [UInt8](repeating: 0, count: 32 * 1024)))
    }

    /// Opens a socket inside `namespace`, without moving the calling thread.
    ///
    /// A netlink socket talks to the namespace it was created in, whatever
    /// thread uses it afterwards. `setns(2)` changes the namespace of the
    /// calling thread only, and the callers here are threads of Swift's
    /// cooperative pool, shared with every other task: moving one of them,
    /// even briefly, would let unrelated work run in the container's network
    /// namespace, and a failed move back would leave it there. So a dedicated
    /// thread enters the namespace, creates and binds the socket, and exits;
    /// the socket keeps the namespace alive and bound until it is closed.
    public static func open(in namespace: NetworkNamespace, protocol netlinkProtocol: Int32 = 0) throws -> NetlinkSocket {
        try namespace.perform { try NetlinkSocket(protocol: netlinkProtocol) }
    }

    /// How many dumps were started again because the kernel marked them
    /// interrupted, over the socket's life.
    public var dumpRestarts: Int { restarts.load(ordering: .relaxed) }

    /// Sends `request` with `NLM_F_ACK` and waits for the kernel's answer.
    ///
    /// - Throws: ``KernelError`` `operation(object): <errno text>`.
    public func execute(_ request: NetlinkRequest, _ operation: String, _ object: String) throws {
        _ = try exchange(request, flags: NL.ack, operation, object, replies: false)
    }

    /// Sends a `GET` request for one object and returns the kernel's reply.
    ///
    /// - Throws: ``KernelError``, e.g. `get link(eth9): No such device`.
    public func get(_ request: NetlinkRequest, _ operation: String, _ object: String) throws -> NetlinkMessage {
        let replies = try exchange(request, flags: 0, operation, object, replies: true)
        guard let reply = replies.first else {
            throw KernelError(operation, object, detail: "the kernel sent no reply")
        }
        return reply
    }

    /// Sends `request` as a dump (`NLM_F_DUMP`) and returns every message of
    /// it, starting again when the kernel marks the dump interrupted.
    public func dump(_ request: NetlinkRequest, _ operation: String, _ object: String = "") throws -> [NetlinkMessage] {
        for _ in 0..<Self.dumpAttempts {
            let (messages, interrupted) = try dumpOnce(request, operation, object)
            if !interrupted { return messages }
            restarts.add(1, ordering: .relaxed)
        }
        throw KernelError(operation, object, errno: .interrupted,
                          detail: "the table kept changing during \(Self.dumpAttempts) dumps")
    }

    private func dumpOnce(_ request: NetlinkRequest, _ operation: String, _ object: String) throws -> ([NetlinkMessage], Bool) {
        try state.withLock { state in
            let sequence = try send(request, flags: NL.dump, &state, operation, object)
            var messages: [NetlinkMessage] = []
            var interrupted = false
            while true {
                for message in try receive(&state, operation, object) where message.sequence == sequence {
                    if message.flags & NL.dumpInterrupted != 0 { interrupted = true }
                    switch message.type {
                    case NL.done:
                        let status = NetlinkStatus(done: message)
                        if status.errno != 0 { throw KernelError(operation, object, status) }
                        return (messages, interrupted)
                    case NL.error:
                        let status = try malformedIsKernelError(operation, object) { try NetlinkStatus(error: message) }
                        if status.errno != 0 { throw KernelError(operation, object, status) }
                    case NL.noop:
                        continue
                    case NL.overrun:
                        throw KernelError(operation, object, detail: "the kernel dropped part of the dump (NLMSG_OVERRUN)")
                    default:
                        messages.append(message)
                    }
                }
            }
        }
    }

    /// One request and its answer: the ack (or error) when `NLM_F_ACK` is in
    /// `flags`, otherwise the first reply message.
    private func exchange(_ request: NetlinkRequest, flags: UInt16, _ operation: String, _ object: String,
                          replies wantReplies: Bool) throws -> [NetlinkMessage] {
        try state.withLock { state in
            let sequence = try send(request, flags: flags, &state, operation, object)
            while true {
                for message in try receive(&state, operation, object) where message.sequence == sequence {
                    switch message.type {
                    case NL.error:
                        let status = try malformedIsKernelError(operation, object) { try NetlinkStatus(error: message) }
                        if status.errno != 0 { throw KernelError(operation, object, status) }
                        return []
                    case NL.noop:
                        continue
                    default:
                        if wantReplies { return [message] }
                    }
                }
            }
        }
    }

    private func send(_ request: NetlinkRequest, flags: UInt16, _ state: inout State,
                      _ operation: String, _ object: String) throws -> UInt32 {
        state.sequence &+= 1
        if state.sequence == 0 { state.sequence = 1 }
        do {
            try transport.send(request.encoded(sequence: state.sequence, addingFlags: flags))
        } catch {
            throw KernelError(operation, object, errno: error, detail: "netlink send")
        }
        return state.sequence
    }

    private func receive(_ state: inout State, _ operation: String, _ object: String) throws -> [NetlinkMessage] {
        let length: Int
        do {
            length = try transport.receive(into: &state.buffer)
        } catch {
            throw KernelError(operation, object, errno: error, detail: "netlink receive")
        }
        // The messages refer to a copy, so the buffer can be reused at once.
        let datagram = Array(state.buffer[0..<length])
        return try malformedIsKernelError(operation, object) { try NetlinkMessage.split(datagram[...]) }
    }

    private func malformedIsKernelError<T>(_ operation: String, _ object: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as NetlinkMessage.Malformed {
            throw KernelError(operation, object, detail: error.description)
        }
    }
}

extension KernelError {
    /// An error from the kernel's netlink answer: the errno, and its
    /// extended-ack text as the detail.
    init(_ operation: String, _ object: String, _ status: NetlinkStatus) {
        self.init(operation, object, errno: Errno(rawValue: status.errno), detail: status.message)
    }
}

/// The real thing: an AF_NETLINK socket.
final class KernelNetlinkTransport: NetlinkTransport {
    let fd: Int32

    /// Takes ownership of an open socket.
    init(adopting fd: Int32) {
        self.fd = fd
    }

    convenience init(protocol netlinkProtocol: Int32) throws {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkProtocol)
        guard fd >= 0 else {
            throw KernelError("socket", "AF_NETLINK", errno: Errno(rawValue: Glibc.errno))
        }
        // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad;
        // __u32 nl_pid; __u32 nl_groups; }: port 0 lets the kernel pick one.
        var address = sockaddr_storage()
        withUnsafeMutableBytes(of: &address) { raw in
            raw.storeBytes(of: sa_family_t(AF_NETLINK), toByteOffset: 0, as: sa_family_t.self)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, 12) }
        }
        guard bound == 0 else {
            let error = Errno(rawValue: Glibc.errno)
            Glibc.close(fd)
            throw KernelError("bind", "AF_NETLINK", errno: error)
        }
        self.init(adopting: fd)
        // Best effort, each: older kernels lack some of these options, and
        // everything still works without them, only with terser errors.
        setOption(SOL_SOCKET, SO_RCVBUF, 1 << 20)
        // The kernel answers every request at once; a receive that waits 30 s
        // means a lost answer, and an error beats a reconcile loop stuck forever.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setOption(NL.solNetlink, NL.extAck, 1)       // error text in NLMSG_ERROR
        setOption(NL.solNetlink, NL.capAck, 1)       // do not echo the request back in errors
        setOption(NL.solNetlink, NL.strictCheck, 1)  // let dumps filter (by link, table) in the kernel
    }

    deinit { Glibc.close(fd) }

    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    func send(_ bytes: [UInt8]) throws(Errno) {
        while true {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            if sent >= 0 { return }
            let error = Errno(rawValue: Glibc.errno)
            if error != .interrupted { throw error }
        }
    }

    func receive(into buffer: inout [UInt8]) throws(Errno) -> Int {
        while true {
            // Peek with MSG_TRUNC to learn the datagram's full length without
            // losing it: a datagram larger than the buffer would otherwise be
            // cut short and the rest dropped by the kernel.
            let length = buffer.withUnsafeMutableBytes {
                recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_TRUNC))
            }
            if length < 0 {
                let error = Errno(rawValue: Glibc.errno)
                if error == .interrupted { continue }
                throw error
            }
            if length > buffer.count {
                buffer = [UInt8](repeating: 0, count: netlinkAlign(length) + 4096)
                continue
            }
            // The peek already copied it all: dequeue without copying again.
            while recv(fd, nil, 0, 0) < 0 {
                let error = Errno(rawValue: Glibc.errno)
                if error != .interrupted { throw error }
            }
            return length
        }
    }
}
