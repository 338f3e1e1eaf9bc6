import Foundation
import Testing

@testable import Sluice

/// `sluice run` with its control socket, driven by `sluice ctl` as a user drives it: reloads under continuous
/// traffic, map updates that change verdicts, refused reloads, socket permissions and stale sockets. Each test makes
/// its own namespace and veth pair and a private socket directory, sends a bounded number of datagrams, and removes
/// everything in `defer`.
@Suite(.serialized, .enabled(if: LiveTestEnvironment.available, "\(LiveTestEnvironment.unavailableReason ?? "")"))
struct ControlLiveTests {
    /// argv: DEST PORT COUNT [FLOWS]. Sends COUNT UDP datagrams in bursts of 25, 5 ms apart (≈5000/s), from FLOWS
    /// sockets in turn (default 1; several source ports spread over the queues), prints COUNT.
    static let flood = """
        import socket, sys, time
        dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        flows = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(flows)]
        for i in range(n):
            socks[i % flows].sendto(b'sluice-ctl-%d' % i, (dst, port))
            if i % 25 == 24: time.sleep(0.005)
        print(n)
        """

    /// A running `sluice run` with a control socket in a directory of its own.
    final class Instance {
        let directory: String
        let socket: String
        let process: Shell.Running
        private var stopped = false

        init(_ net: NetnsFixture, object: String, seconds: Int = 60, extra: [String] = []) throws {
            directory = try Repository.temporaryDirectory()
            socket = directory + "/ctl.sock"
            process = try Shell.start(
                [
                    BenchCommandTests.sluice, "run", "--iface", net.hostInterface, "--control", socket,
                    "--duration", String(seconds), "--redirect-program", LiveTestEnvironment.redirectProgram,
                ] + extra + [object])
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && process.process.isRunning && !process.stderrSoFar.contains("Ctrl-C stops") {
                usleep(20_000)
            }
            guard process.stderrSoFar.contains("Ctrl-C stops") else {
                stop()
                throw FixtureError("sluice run did not start:\n\(process.stderrSoFar)")
            }
        }

        /// Runs `sluice ctl --control SOCKET args…`.
        func ctl(_ arguments: [String]) throws -> Shell.Output {
            try Shell.run([BenchCommandTests.sluice, "ctl", "--control", socket] + arguments, timeoutSeconds: 60)
        }

        func stats() throws -> ControlStats {
            let out = try ctl(["stats", "--json"])
            guard out.status == 0 else { throw FixtureError("ctl stats failed: \(out.stderr)") }
            return try JSONDecoder().decode(ControlStats.self, from: Data(out.stdout.utf8))
        }

        func dump(_ map: String) throws -> [ControlMapEntry] {
            let out = try ctl(["map", "dump", map, "--json"])
            guard out.status == 0 else { throw FixtureError("ctl map dump failed: \(out.stderr)") }
            return try JSONDecoder().decode([ControlMapEntry].self, from: Data(out.stdout.utf8))
        }

        /// SIGINT, then the run's output.
        @discardableResult
        func stop() -> Shell.Output {
            if !stopped && process.process.isRunning { process.process.interrupt() }
            stopped = true
            let deadline = Date().addingTimeInterval(20)
            while process.process.isRunning && Date() < deadline { usleep(20_000) }
            if process.process.isRunning { kill(process.process.processIdentifier, SIGKILL) }
            let output = process.finish()
            try? FileManager.default.removeItem(atPath: directory)
            return output
        }

        deinit { stop() }
    }

    private func send(_ net: NetnsFixture, port: Int, count: Int) throws -> Int {
        let out = try net.python(Self.flood, [net.hostAddress, String(port), String(count)], timeoutSeconds: 60)
        return Int(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Waits until the engine has taken `frames` frames (traffic on the veth is in flight for a moment).
    private func waitForRX(_ instance: Instance, atLeast frames: UInt64) throws -> ControlStats {
        var stats = try instance.stats()
        let deadline = Date().addingTimeInterval(5)
        while stats.live.total.rx.packets < frames && Date() < deadline {
            usleep(50_000)
            stats = try instance.stats()
        }
        usleep(300_000)  // one more poll round: counters published, nothing still in the rings
        return try instance.stats()
    }

    private static func u64(_ entry: ControlMapEntry?, at offset: Int = 0) -> UInt64 {
        guard let bytes = entry?.valueBytes.first, bytes.count >= offset + 8 else { return .max }
        return bytes[offset..<offset + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    @Test func tenReloadsUnderTrafficProcessEveryFrameExactlyOnceAndKeepCounting() throws {
        let net = try NetnsFixture(tag: "cr")
        defer { net.destroy() }
        let object = try Repository.object("counters")
        let instance = try Instance(net, object: object)
        defer { instance.stop() }

        let packets = 20_000
        let sender = try Shell.start([
            "ip", "netns", "exec", net.name, "/usr/bin/python3", "-c", Self.flood, net.hostAddress, "9000",
            String(packets),
        ])
        var reports: [LiveProgram.ReloadReport] = []
        usleep(300_000)
        for _ in 0..<10 {
            let out = try instance.ctl(["reload", object, "--json"])
            #expect(out.status == 0, "reload: \(out.stderr)")
            if out.status == 0 {
                reports.append(try JSONDecoder().decode(LiveProgram.ReloadReport.self, from: Data(out.stdout.utf8)))
            }
            usleep(100_000)
        }
        let senderOutput = sender.finish()
        #expect(senderOutput.stdout.contains("\(packets)"), "sender: \(senderOutput.stderr)")
        let stats = try waitForRX(instance, atLeast: UInt64(packets))

        #expect(stats.reloads == 10)
        #expect(stats.generations.count == 11)
        let processed = stats.generations.map(\.processed).reduce(0, +)
        let received = stats.live.total.rx.packets
        #expect(processed == received, "received \(received), processed per generation \(stats.generations)")
        // The reloads happened while traffic flowed: the first, some middle and (most likely) later generations ran.
        #expect(stats.generations.first!.processed > 0)
        #expect(stats.generations.dropFirst().filter { $0.processed > 0 }.count >= 3, "\(stats.generations)")
        // Zero drops: every datagram reached the program, and nothing was aborted or lost in the socket.
        #expect(stats.live.total.aborted.packets == 0)
        #expect(stats.live.socketTotal.rxDropped == 0)
        let udp = try instance.dump("proto_stats").first { $0.keyBytes == [17, 0, 0, 0] }
        #expect(Self.u64(udp) == UInt64(packets), "the kept proto_stats counter counted across all generations")
        for report in reports {
            #expect(report.keptMaps == ["proto_stats", "source_stats", "totals", "frames"])
            #expect(report.newMaps.isEmpty)
        }
        let output = instance.stop()
        #expect(output.stdout.contains("programs (10 reload(s))"), "\(output.stdout)")
        #expect(!FileManager.default.fileExists(atPath: instance.socket), "the socket goes away with sluice")
    }

    @Test func anUnverifiableReloadIsRefusedAndTheOldProgramKeepsRunning() throws {
        let bad = try BPFCompiler.compile(
            source: """
                #include <linux/bpf.h>
                #include <bpf/bpf_helpers.h>
                SEC("xdp")
                int unchecked_read(struct xdp_md *ctx)
                {
                    unsigned char *data = (void *)(long)ctx->data;
                    return data[40] == 1 ? XDP_DROP : XDP_PASS; /* no bounds check against data_end */
                }
                char _license[] SEC("license") = "GPL";
                """, name: "unchecked_read")
        let net = try NetnsFixture(tag: "cu")
        defer { net.destroy() }
        let instance = try Instance(net, object: try Repository.object("counters"))
        defer { instance.stop() }
        #expect(try send(net, port: 9001, count: 200) == 200)
        let before = try waitForRX(instance, atLeast: 200)

        let refused = try instance.ctl(["reload", bad])
        #expect(refused.status != 0)
        #expect(
            refused.stderr.contains("unchecked_read") || refused.stderr.contains("instruction"), "\(refused.stderr)")
        #expect(
            refused.stderr.lowercased().contains("packet") || refused.stderr.contains("out of"), "\(refused.stderr)")

        #expect(try send(net, port: 9001, count: 200) == 200)
        let after = try waitForRX(instance, atLeast: before.live.total.rx.packets + 200)
        #expect(after.reloads == 0)
        #expect(after.generation == 1)
        #expect(after.program == "xdp_counters")
        #expect(after.generations.count == 1)
        #expect(after.generations[0].processed == after.live.total.rx.packets)
        #expect(after.live.total.rx.packets >= before.live.total.rx.packets + 200)
    }

    @Test func mapUpdateFromCtlChangesVerdictsAndDumpsMatchTheEngine() throws {
        let net = try NetnsFixture(tag: "cm")
        defer { net.destroy() }
        let instance = try Instance(net, object: try Repository.object("firewall"))
        defer { instance.stop() }
        // blocked_ports: key __u16 port in host byte order (7777 = 0x1e61), value __u8.
        #expect(try send(net, port: 7777, count: 100) == 100)
        let open = try waitForRX(instance, atLeast: 100)
        #expect(open.live.total.drop.packets == 0)

        let update = try instance.ctl(["map", "update", "blocked_ports", "hex", "61", "1e", "hex", "01"])
        #expect(update.status == 0, "\(update.stderr)")
        let lookup = try instance.ctl(["map", "lookup", "blocked_ports", "0x611e"])
        #expect(lookup.stdout.contains("key: 61 1e  value: 01"), "\(lookup.stdout)\(lookup.stderr)")
        #expect(try send(net, port: 7777, count: 100) == 100)
        let blocked = try waitForRX(instance, atLeast: open.live.total.rx.packets + 100)
        #expect(blocked.live.total.drop.packets == 100)

        // The program's own verdict counters equal the engine's.
        let verdicts = try instance.dump("verdicts")
        #expect(verdicts.count == 5, "every array entry is listed")
        #expect(Self.u64(verdicts.first { $0.keyBytes == [1, 0, 0, 0] }) == blocked.live.total.drop.packets)
        #expect(Self.u64(verdicts.first { $0.keyBytes == [2, 0, 0, 0] }) == blocked.live.total.pass.packets)

        let delete = try instance.ctl(["map", "delete", "blocked_ports", "hex", "61", "1e"])
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(try send(net, port: 7777, count: 50) == 50)
        let reopened = try waitForRX(instance, atLeast: blocked.live.total.rx.packets + 50)
        #expect(reopened.live.total.drop.packets == 100)

        // Sizes are checked with a clear error; nothing changes.
        let wrong = try instance.ctl(["map", "update", "blocked_ports", "0x61", "0x01"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("key is 2 byte(s)"), "\(wrong.stderr)")
        let unknown = try instance.ctl(["map", "dump", "no_such_map"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no map named 'no_such_map'"), "\(unknown.stderr)")
        let human = try instance.ctl(["stats"])
        #expect(human.stdout.contains("generation 1 (running): xdp_firewall"), "\(human.stdout)")
    }

    @Test func theSocketIsRootOnlyALiveOneIsRefusedAndAStaleOneReplaced() throws {
        let net = try NetnsFixture(tag: "cs")
        defer { net.destroy() }
        let object = try Repository.object("counters")
        let instance = try Instance(net, object: object)
        defer { instance.stop() }

        var info = stat()
        #expect(lstat(instance.socket, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_uid == 0)

        // Another instance on the same socket is refused before it attaches anything; the first keeps serving.
        let second = try Shell.run(
            [
                BenchCommandTests.sluice, "run", "--iface", net.hostInterface, "--control", instance.socket,
                "--duration", "1", object,
            ], timeoutSeconds: 30)
        #expect(second.status != 0)
        #expect(second.stderr.contains("another sluice instance is serving"), "\(second.stderr)")
        #expect(try instance.stats().program == "xdp_counters")

        // A non-root client is refused.
        if access("/usr/bin/setpriv", X_OK) == 0 {
            // The socket's directory is root's 0700 temporary directory; open it up so only the socket mode decides.
            chmod(instance.directory, 0o755)
            let nobody = try Shell.run([
                "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BenchCommandTests.sluice, "ctl",
                "--control", instance.socket, "stats",
            ])
            #expect(nobody.status != 0)
            #expect(nobody.stderr.contains("permission denied"), "\(nobody.stderr)")
        } else {
            Issue.record("setpriv is missing: cannot check that a non-root client is refused")
        }
        let output = instance.stop()
        #expect(!FileManager.default.fileExists(atPath: instance.socket), "\(output.stderr)")

        // A socket a crashed instance left (bound, nobody listening) is replaced.
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stale = directory + "/stale.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try UnixSocket.address(stale)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        close(fd)
        #expect(bound == 0)
        let replaced = try Shell.run(
            [
                BenchCommandTests.sluice, "run", "--iface", net.hostInterface, "--control", stale, "--duration", "1",
                object,
            ], timeoutSeconds: 30)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.stderr.contains("replaced a stale control socket"), "\(replaced.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale))

        // Something that is not a socket is left alone.
        let file = directory + "/not-a-socket"
        FileManager.default.createFile(atPath: file, contents: Data("keep".utf8))
        let refused = try Shell.run(
            [
                BenchCommandTests.sluice, "run", "--iface", net.hostInterface, "--control", file, "--duration", "1",
                object,
            ], timeoutSeconds: 30)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("is not a socket"), "\(refused.stderr)")
        #expect((try? String(contentsOfFile: file, encoding: .utf8)) == "keep")
        #expect(try !net.hostHasXDP(), "a refused run leaves nothing attached")

        // Nobody serving: a clear error.
        let none = try Shell.run([BenchCommandTests.sluice, "ctl", "--control", directory + "/none.sock", "stats"])
        #expect(none.status != 0)
        #expect(none.stderr.contains("no sluice instance is serving"), "\(none.stderr)")
    }

    @Test func thePrometheusEndpointServesTheEnginesCountersUnderTheDocumentedNames() throws {
        let net = try NetnsFixture(tag: "cp")
        defer { net.destroy() }
        let instance = try Instance(
            net, object: try Repository.object("counters"), extra: ["--metrics", "127.0.0.1:0"])
        defer { instance.stop() }
        let stderr = instance.process.stderrSoFar
        let url = try #require(
            stderr.split(separator: "\n").first { $0.hasPrefix("note: metrics at ") }.map {
                String($0.dropFirst("note: metrics at ".count))
            }, "\(stderr)")
        #expect(try send(net, port: 9002, count: 150) == 150)
        let stats = try waitForRX(instance, atLeast: 150)
        // A real HTTP request from another process (Python's urllib).
        let scrape = try Shell.run([
            "/usr/bin/python3", "-c",
            "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())", url,
        ])
        #expect(scrape.status == 0, "\(scrape.stderr)")
        let q = "interface=\"\(net.hostInterface)\",queue=\"0\""
        let body = scrape.stdout
        #expect(body.contains("sluice_rx_packets_total{\(q)} \(stats.live.total.rx.packets)"), "\(body)")
        #expect(body.contains("sluice_verdict_packets_total{\(q),verdict=\"pass\"} \(stats.live.total.pass.packets)"))
        #expect(body.contains("sluice_reloads_total{interface=\"\(net.hostInterface)\"} 0"))
        #expect(body.contains("# TYPE sluice_socket_errors_total counter"))
        #expect(body.contains("sluice_verdict_rate_packets_per_second"))
        // The sampled run-time histogram: one frame in 64 timed, so 150 frames give at least 2 samples.
        #expect(body.contains("# TYPE sluice_program_run_seconds histogram"), "\(body)")
        let count = body.split(separator: "\n").first { $0.hasPrefix("sluice_program_run_seconds_count{") }
        let samples = count.flatMap { UInt64($0.split(separator: " ").last ?? "") } ?? 0
        #expect(samples >= 2 && samples <= stats.live.total.rx.packets / 64 + 1, "\(count ?? "no count line")")
        #expect(stats.runTime?.samples == samples || (stats.runTime?.samples ?? 0) <= samples)
    }

    @Test func reloadsOnTwoQueuesSwitchEveryWorkerAndLoseNothing() throws {
        let net = try NetnsFixture(tag: "cq", queues: 2)
        defer { net.destroy() }
        let object = try Repository.object("counters")
        let instance = try Instance(net, object: object)
        defer { instance.stop() }
        let packets = 10_000
        let sender = try Shell.start([
            "ip", "netns", "exec", net.name, "/usr/bin/python3", "-c", Self.flood, net.hostAddress, "9003",
            String(packets), "16",
        ])
        usleep(300_000)
        for _ in 0..<5 {
            let out = try instance.ctl(["reload", object])
            #expect(out.status == 0, "reload: \(out.stderr)")
            #expect(out.stdout.contains("kept maps: proto_stats, source_stats, totals, frames"), "\(out.stdout)")
            usleep(100_000)
        }
        #expect(sender.finish().stdout.contains("\(packets)"))
        let stats = try waitForRX(instance, atLeast: UInt64(packets))
        #expect(stats.live.queues.count == 2, "one worker per queue")
        #expect(stats.reloads == 5)
        #expect(stats.generations.map(\.processed).reduce(0, +) == stats.live.total.rx.packets, "\(stats.generations)")
        let udp = try instance.dump("proto_stats").first { $0.keyBytes == [17, 0, 0, 0] }
        #expect(Self.u64(udp) == UInt64(packets))
        #expect(stats.live.socketTotal.rxDropped == 0)
    }
}

extension ControlLiveTests {
    /// `ctl trace`: what the running program prints with bpf_printk reaches the client in trace_pipe's format, every
    /// line once across polls, and a reload keeps printing into the same stream.
    @Test func traceStreamsThePrintkLinesOfTheRunningProgram() throws {
        let object = try BPFCompiler.compile(
            source: """
                #include <linux/bpf.h>
                #include <linux/if_ether.h>
                #include <bpf/bpf_helpers.h>
                #include <bpf/bpf_endian.h>
                SEC("xdp")
                int printer(struct xdp_md *ctx)
                {
                    void *data = (void *)(long)ctx->data;
                    void *end = (void *)(long)ctx->data_end;
                    struct ethhdr *eth = data;
                    if ((void *)(eth + 1) > end)
                        return XDP_PASS;
                    if (eth->h_proto == bpf_htons(ETH_P_IP))
                        bpf_printk("ipv4 frame of %u bytes", (unsigned)(end - data));
                    return XDP_PASS;
                }
                char LICENSE[] SEC("license") = "GPL";
                """, name: "ctl_trace")
        let net = try NetnsFixture(tag: "ct")
        defer { net.destroy() }
        let instance = try Instance(net, object: object)
        defer { instance.stop() }
        #expect(try send(net, port: 9999, count: 20) == 20)
        _ = try waitForRX(instance, atLeast: 20)
        let first = try instance.ctl(["trace", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let lines = try JSONDecoder().decode(LiveTrace.Lines.self, from: Data(first.stdout.utf8))
        let ours = lines.lines.filter { $0.contains("bpf_trace_printk: ipv4 frame of ") }
        #expect(ours.count >= 20, "\(lines.lines.suffix(5))")
        // trace_pipe's shape: task-pid [cpu] flags seconds.micros: bpf_trace_printk: message
        #expect(ours.first?.contains("sluice-q0-0") == true && ours.first?.contains("[000] .....") == true, "\(ours.first ?? "")")
        #expect(ours.allSatisfy { $0.hasSuffix("bytes") })
        // Asking from `next` gives only what came after.
        var request = ControlRequest(command: "trace")
        request.since = lines.next
        let none = try ControlClient.send(request, to: instance.socket)
        #expect(none.trace?.lines.filter { $0.contains("ipv4 frame") }.isEmpty == true)
        #expect(try send(net, port: 9999, count: 5) == 5)
        _ = try waitForRX(instance, atLeast: 25)
        let more = try ControlClient.send(request, to: instance.socket)
        #expect(more.trace?.lines.filter { $0.contains("ipv4 frame") }.count ?? 0 >= 5)
        // The human form is the lines themselves.
        let text = try instance.ctl(["trace"])
        #expect(text.status == 0 && text.stdout.contains("bpf_trace_printk: ipv4 frame of "), "\(text.stdout.suffix(400))")
    }
}

extension ControlLiveTests {
    /// `ctl trace` also carries ring-buffer records (drained by the control thread, their one consumer), each once.
    @Test func traceCarriesRingBufferRecords() throws {
        let object = try BPFCompiler.compile(
            source: """
                #include <linux/bpf.h>
                #include <linux/if_ether.h>
                #include <bpf/bpf_helpers.h>
                #include <bpf/bpf_endian.h>
                struct {
                    __uint(type, BPF_MAP_TYPE_RINGBUF);
                    __uint(max_entries, 4096 * 4);
                } frames SEC(".maps");
                SEC("xdp")
                int recorder(struct xdp_md *ctx)
                {
                    void *data = (void *)(long)ctx->data;
                    void *end = (void *)(long)ctx->data_end;
                    struct ethhdr *eth = data;
                    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
                        return XDP_PASS;
                    __u32 length = (__u32)(end - data) | 0xab000000;
                    bpf_ringbuf_output(&frames, &length, sizeof(length), 0);
                    return XDP_PASS;
                }
                char LICENSE[] SEC("license") = "GPL";
                """, name: "ctl_ringbuf")
        let net = try NetnsFixture(tag: "cr")
        defer { net.destroy() }
        let instance = try Instance(net, object: object)
        defer { instance.stop() }
        #expect(try send(net, port: 9999, count: 12) == 12)
        _ = try waitForRX(instance, atLeast: 12)
        let reply = try ControlClient.send(ControlRequest(command: "trace"), to: instance.socket)
        let events = reply.trace?.lines.filter { $0.hasPrefix("event frames: 4 bytes: ") } ?? []
        #expect(events.count >= 12, "\(reply.trace?.lines.suffix(5) ?? [])")
        // The records' last byte is the program's marker (little-endian u32 with 0xab in the top byte).
        #expect(events.allSatisfy { $0.hasSuffix("ab") }, "\(events.prefix(3))")
        // Drained once: a second request from `next` has no old record again.
        var again = ControlRequest(command: "trace")
        again.since = reply.trace?.next ?? 0
        let second = try ControlClient.send(again, to: instance.socket)
        #expect(second.trace?.lines.filter { $0.hasPrefix("event frames") }.isEmpty == true)
    }
}

extension ControlLiveTests {
    /// The attached XDP program's id on the host end, as `ip link` shows it.
    private static func xdpProgramID(_ net: NetnsFixture) throws -> Int? {
        let out = try Shell.run(["ip", "-d", "link", "show", "dev", net.hostInterface])
        guard let range = out.stdout.range(of: "prog/xdp id ") else { return nil }
        return Int(out.stdout[range.upperBound...].prefix { $0.isNumber })
    }

    /// `ctl redirect-reload`: the kernel-side program is replaced through `bpf_link_update` on the running maps (the
    /// sockets stay in `xsks_map`), so traffic keeps reaching Sluice; an object that is not the redirect program is
    /// refused and the old program stays.
    @Test func redirectProgramIsReplacedThroughItsLink() throws {
        let net = try NetnsFixture(tag: "rr")
        defer { net.destroy() }
        let instance = try Instance(net, object: try Repository.object("counters"))
        defer { instance.stop() }
        let before = try #require(try Self.xdpProgramID(net), "no XDP program on \(net.hostInterface)")
        #expect(try send(net, port: 9999, count: 10) == 10)
        let first = try waitForRX(instance, atLeast: 10).live.total.rx.packets

        let replaced = try instance.ctl(["redirect-reload", LiveTestEnvironment.redirectProgram])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.stdout.contains("redirect program replaced (bpf_link_update)"), "\(replaced.stdout)")
        let after = try #require(try Self.xdpProgramID(net))
        #expect(after != before, "the program id did not change (\(before))")
        #expect(replaced.stdout.contains("program id \(after)"), "\(replaced.stdout)")

        #expect(try send(net, port: 9999, count: 10) == 10)
        let afterSwap = try waitForRX(instance, atLeast: first + 10).live
        let second = afterSwap.total.rx.packets
        #expect(second >= first + 10, "frames stopped reaching Sluice after the swap: \(first) → \(second)")
        // The attachment's map fds are its own: the old object went, and the kernel-side counters still read.
        #expect(afterSwap.kernelPass.count == 1, "kernel pass counters after the swap: \(afterSwap.kernelPass)")

        let refused = try instance.ctl(["redirect-reload", try Repository.object("counters")])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("sluice_redirect") || refused.stderr.contains("xsks_map"), "\(refused.stderr)")
        #expect(try Self.xdpProgramID(net) == after)
    }
}
