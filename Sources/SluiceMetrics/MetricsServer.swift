import NIOCore
import NIOHTTP1
import NIOPosix

/// `--metrics HOST:PORT`: an HTTP/1.1 server (SwiftNIO, one event-loop thread, off the packet path) answering
/// `GET /metrics` with the exporter's Prometheus text; other paths get 404, other methods 405.
public final class MetricsServer: @unchecked Sendable {
    /// The address actually bound (`127.0.0.1:9417`; port 0 in the request picks a free one).
    public let boundAddress: String
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private var closed = false

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// Splits `HOST:PORT` (`[::1]:9417` for IPv6).
    public static func parse(_ text: String) throws(Error) -> (host: String, port: Int) {
        var host: Substring
        var port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw Error(description: "--metrics \(text): expected [IPV6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw Error(description: "--metrics \(text): expected HOST:PORT, e.g. 127.0.0.1:9417")
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw Error(description: "--metrics \(text): no host (use 0.0.0.0 for all)") }
        guard let number = Int(port), (0...65535).contains(number) else {
            throw Error(description: "--metrics \(text): port must be 0...65535")
        }
        return (String(host), number)
    }

    public init(host: String, port: Int, exporter: PrometheusExporter) throws(Error) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 16)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(exporter: exporter))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw Error(description: "--metrics \(host):\(port): cannot listen: \(error)")
        }
        self.group = group
        let address = channel.localAddress
        let shownHost = address?.protocol == .inet6 ? "[\(address?.ipAddress ?? host)]" : (address?.ipAddress ?? host)
        boundAddress = "\(shownHost):\(address?.port ?? port)"
    }

    /// Stops listening and shuts the event loop down. Safe to call twice.
    public func close() {
        guard !closed else { return }
        closed = true
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    deinit { close() }
}

final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let exporter: PrometheusExporter
    private var head: HTTPRequestHead?

    init(exporter: PrometheusExporter) { self.exporter = exporter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            let status: HTTPResponseStatus
            let body: String
            var contentType = "text/plain; charset=utf-8"
            if request.method != .GET && request.method != .HEAD {
                (status, body) = (.methodNotAllowed, "only GET /metrics\n")
            } else if path == "/metrics" {
                (status, body) = (.ok, exporter.render())
                contentType = "text/plain; version=0.0.4; charset=utf-8"
            } else {
                (status, body) = (.notFound, "not found: the metrics are at /metrics\n")
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            let keepAlive = request.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                promise: nil)
            if request.method != .HEAD {
                var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
                buffer.writeString(body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { bound.value.close(promise: nil) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Swift.Error) {
        context.close(promise: nil)
    }
}
