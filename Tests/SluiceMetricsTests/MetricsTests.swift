import Foundation
import Testing

@testable import Sluice
@testable import SluiceMetrics

/// A plain HTTP/1.1 GET over a TCP socket (the test's own client, so the request is a real one on the wire).
enum HTTPGet {
    static func get(host: String, port: Int, path: String, method: String = "GET") throws -> (status: Int, body: String)
    {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw HTTPError(description: "connect \(host):\(port): errno \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first,
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw HTTPError(description: "no HTTP status line in: \(text.prefix(200))") }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    struct HTTPError: Error, CustomStringConvertible { var description: String }
}

/// The Prometheus endpoint in-process: metric names, monotonic counters from snapshots, rates, the HTTP server.
struct MetricsTests {
    final class FakeRun: @unchecked Sendable {
        let lock = NSLock()
        var rx: UInt64 = 0
        var drop: UInt64 = 0
        var nanos: UInt64 = 1_000_000_000

        func snapshot() -> ControlStats {
            lock.lock()
            defer { lock.unlock() }
            var counters = QueueCounters()
            counters.rx = PacketCount(packets: rx, bytes: rx * 100)
            counters.drop = PacketCount(packets: drop, bytes: drop * 100)
            let queue = QueueStats(
                interface: "veth-test", queue: 0, bindMode: .copy, counters: counters, socket: XDPSocketStatistics())
            return ControlStats(
                interface: "veth-test", program: "xdp_firewall", object: "/x.o", engine: .interpreter, generation: 2,
                reloads: 1, live: LiveStats(monotonicNanos: nanos, queues: [queue], endReasons: []),
                generations: [
                    LiveProgram.Generation(
                        generation: 1, program: "xdp_firewall", object: "/x.o", engine: .interpreter, processed: 7,
                        active: false),
                    LiveProgram.Generation(
                        generation: 2, program: "xdp_firewall", object: "/x.o", engine: .interpreter,
                        processed: rx - min(rx, 7), active: true),
                ], uptimeSeconds: 1)
        }

        func advance(rx: UInt64, drop: UInt64, seconds: UInt64) {
            lock.lock()
            self.rx += rx
            self.drop += drop
            nanos += seconds * 1_000_000_000
            lock.unlock()
        }
    }

    private func value(_ text: String, _ prefix: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(prefix + " ") {
            return Double(line.dropFirst(prefix.count + 1))
        }
        return nil
    }

    @Test func runTimeHistogramIsCumulativeWithInfAndCount() throws {
        // Buckets: ≤16 ns, ≤32 ns, ≤64 ns, … (16 · 2^i); the last one takes everything longer.
        #expect(RunTimeHistogram.bound(0) == 16 && RunTimeHistogram.bound(3) == 128)
        let run = FakeRun()
        var stats = run.snapshot()
        var counts = [UInt64](repeating: 0, count: RunTimeHistogram.bucketCount)
        counts[1] = 3  // 17…32 ns
        counts[3] = 2  // 65…128 ns
        counts[RunTimeHistogram.bucketCount - 1] = 1  // longer than the last bound
        stats.runTime = RunTimeHistogram(
            sampleEvery: 64, boundsNanos: (0..<RunTimeHistogram.bucketCount - 1).map(RunTimeHistogram.bound),
            counts: counts, sumNanos: 1_000)
        let text = PrometheusExporter.runTimeText(stats)
        let l = "interface=\"veth-test\""
        #expect(text.contains("# TYPE sluice_program_run_seconds histogram"))
        #expect(value(text, "sluice_program_run_seconds_bucket{\(l),le=\"1.6e-08\"}") == 0, "\(text)")
        #expect(value(text, "sluice_program_run_seconds_bucket{\(l),le=\"3.2e-08\"}") == 3)
        #expect(value(text, "sluice_program_run_seconds_bucket{\(l),le=\"6.4e-08\"}") == 3)
        #expect(value(text, "sluice_program_run_seconds_bucket{\(l),le=\"1.28e-07\"}") == 5)
        #expect(value(text, "sluice_program_run_seconds_bucket{\(l),le=\"+Inf\"}") == 6)
        #expect(value(text, "sluice_program_run_seconds_count{\(l)}") == 6)
        #expect(value(text, "sluice_program_run_seconds_sum{\(l)}") == 1e-06)
    }

    @Test func countersFollowTheEngineAndRatesComeFromTwoScrapes() throws {
        let run = FakeRun()
        run.advance(rx: 10, drop: 4, seconds: 0)
        let exporter = PrometheusExporter { run.snapshot() }
        let first = exporter.render()
        let q = "interface=\"veth-test\",queue=\"0\""
        #expect(value(first, "sluice_rx_packets_total{\(q)}") == 10, "\(first)")
        #expect(value(first, "sluice_verdict_packets_total{\(q),verdict=\"drop\"}") == 4)
        #expect(value(first, "sluice_reloads_total{interface=\"veth-test\"}") == 1)
        #expect(value(first, "sluice_program_generation{interface=\"veth-test\"}") == 2)
        #expect(first.contains("# TYPE sluice_rx_packets_total counter"))
        #expect(first.contains("sluice_socket_errors_total{\(q),kind=\"rx_ring_full\"} 0"))

        run.advance(rx: 200, drop: 100, seconds: 2)
        let second = exporter.render()
        #expect(value(second, "sluice_rx_packets_total{\(q)}") == 210)
        #expect(value(second, "sluice_verdict_packets_total{\(q),verdict=\"drop\"}") == 104)
        #expect(value(second, "sluice_verdict_rate_packets_per_second{\(q),verdict=\"drop\"}") == 50)
        #expect(
            value(
                second,
                "sluice_program_processed_total{interface=\"veth-test\",generation=\"2\",program=\"xdp_firewall\"}")
                == 203)
    }

    @Test func servesMetricsOverHTTP() throws {
        let run = FakeRun()
        run.advance(rx: 3, drop: 0, seconds: 0)
        let server = try MetricsServer(host: "127.0.0.1", port: 0, exporter: PrometheusExporter { run.snapshot() })
        defer { server.close() }
        let port = try #require(Int(server.boundAddress.split(separator: ":").last ?? ""))
        let ok = try HTTPGet.get(host: "127.0.0.1", port: port, path: "/metrics")
        #expect(ok.status == 200)
        #expect(ok.body.contains("sluice_rx_packets_total{interface=\"veth-test\",queue=\"0\"} 3"), "\(ok.body)")
        #expect(try HTTPGet.get(host: "127.0.0.1", port: port, path: "/").status == 404)
        #expect(try HTTPGet.get(host: "127.0.0.1", port: port, path: "/metrics", method: "POST").status == 405)
    }

    @Test func addressesAreChecked() throws {
        #expect(try MetricsServer.parse("127.0.0.1:9417") == ("127.0.0.1", 9417))
        #expect(try MetricsServer.parse("[::1]:0") == ("::1", 0))
        for bad in ["9417", ":9417", "host:", "host:70000", "[::1]9417", "h:p"] {
            #expect(throws: MetricsServer.Error.self, "\(bad)") { try MetricsServer.parse(bad) }
        }
    }
}
