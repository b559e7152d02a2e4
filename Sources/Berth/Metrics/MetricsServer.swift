import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where `--metrics-address` asks berth to listen.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// `127.0.0.1:9488`, `[::1]:9488`, `0.0.0.0:9488`, or `:9488`. Without a host berth
    /// listens on 127.0.0.1 only: it never listens beyond the machine unless the address
    /// written says where.
    public init(parsing text: String) throws(MetricsAddressError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { throw .notAnAddress(text) }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        guard (try? SocketAddress(ipAddress: host, port: port)) != nil else { throw .notAnAddress(text) }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public enum MetricsAddressError: Error, CustomStringConvertible, Equatable {
    case notAnAddress(String)

    public var description: String {
        switch self {
        case .notAnAddress(let text):
            "--metrics-address: \"\(text)\" is not HOST:PORT with an IP address (e.g. 127.0.0.1:9488, or :9488 for 127.0.0.1)"
        }
    }
}

/// A small HTTP/1.1 server on swift-nio: `GET /metrics` answers with Prometheus' text format
/// (version 0.0.4), anything else with 404. One event loop thread; each scrape reads the kernel.
public final class MetricsServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel

    /// The address bound (with the port the kernel chose for port 0).
    public var boundAddress: String {
        guard let a = channel.localAddress, let ip = a.ipAddress, let port = a.port else { return "?" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    public init(address: MetricsAddress, render: @escaping @Sendable () -> [UInt8]) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(MetricsHandler(render: render))
                    }
                }
                .bind(host: address.host, port: address.port)
                .wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () -> [UInt8]

    init(render: @escaping @Sendable () -> [UInt8]) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let (status, type, body): (HTTPResponseStatus, String, [UInt8])
        if path == "/metrics" && (request.method == .GET || request.method == .HEAD) {
            (status, type, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", render())
        } else {
            (status, type, body) = (.notFound, "text/plain; charset=utf-8", Array("Not found: try /metrics\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                      promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
