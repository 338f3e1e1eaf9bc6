import Foundation
import Testing

@testable import Sluice

/// Sharing an interface with libxdp users (xdp-filter, xdp-loader): Sluice joins libxdp's dispatcher when one is
/// there (or with `--multiprog`), and says clearly when the interface is held by a program outside a dispatcher.
/// Whether the dispatcher itself works depends on the kernel (libxdp falls back to a single program when the kernel
/// refuses its freplace extension programs); each test reads what libxdp actually did and checks Sluice's answer
/// for that case, so both outcomes are asserted, never skipped.
@Suite(.serialized, .enabled(if: LiveTestEnvironment.available, "\(LiveTestEnvironment.unavailableReason ?? "")"))
struct MultiprogLiveTests {
    static let xdpFilter = "/usr/sbin/xdp-filter"
    static let xdpLoader = "/usr/sbin/xdp-loader"

    static func status(_ interface: String) throws -> String {
        try Shell.run([xdpLoader, "status", interface]).stdout
    }

    /// UDP datagrams from the namespace: `count` to each of `ports` on the host end (ARP resolution first).
    static func udpTraffic(_ net: NetnsFixture, ports: [(port: Int, count: Int)]) -> String {
        let sends = ports.map { "\($0.port):\($0.count)" }.joined(separator: ",")
        let script = """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for spec in '\(sends)'.split(','):
                port, count = map(int, spec.split(':'))
                for i in range(count):
                    s.sendto(b'sluice-multiprog-%d' % i, ('\(net.hostAddress)', port))
                    time.sleep(0.002)
            print('sent', '\(sends)')
            """
        return "ip netns exec \(net.name) /usr/bin/python3 -c \"" + script + "\" 2>&1"
    }

    /// `sluice run` on the host end for `seconds`; once it says it is running, `traffic` (a shell command; by
    /// default three pings from the namespace). Returns sluice's exit status and output, and the traffic's output.
    static func run(
        _ net: NetnsFixture, extra: [String] = [], seconds: Int = 3, traffic: String? = nil
    ) throws -> (status: Int32, output: String, traffic: String) {
        let log = NSTemporaryDirectory() + "sluice-multiprog-\(UUID().uuidString).log"
        defer { unlink(log) }
        let object = try Repository.object("counters")
        let quoted = ([BenchCommandTests.sluice, "run", "--iface", net.hostInterface, "--duration", String(seconds)]
            + extra + [object]).map { "'" + $0 + "'" }.joined(separator: " ")
        let traffic = traffic ?? "ip netns exec \(net.name) ping -n -c 3 -i 0.2 -W 1 \(net.hostAddress) 2>&1"
        let script = """
            \(quoted) > '\(log)' 2>&1 &
            pid=$!
            # Traffic once Sluice says it is running (startup can be slow: a loaded machine, an emulated guest).
            tries=0
            while [ $tries -lt 300 ] && kill -0 $pid 2>/dev/null && ! grep -q 'Ctrl-C stops' '\(log)'; do
                sleep 0.1; tries=$((tries + 1))
            done
            \(traffic)
            wait $pid
            echo "sluice-status=$?"
            """
        let out = try Shell.run(["/bin/sh", "-c", script], timeoutSeconds: Double(seconds) + 50)
        let status = out.stdout.split(separator: "\n").last { $0.hasPrefix("sluice-status=") }
            .flatMap { Int32($0.dropFirst("sluice-status=".count)) } ?? -1
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", out.stdout)
    }

    /// The `total: rx N` of sluice's final statistics.
    static func totalReceived(_ output: String) -> Int? {
        guard let line = output.split(separator: "\n").last(where: { $0.contains("total: rx ") }) else { return nil }
        let rest = line[line.range(of: "total: rx ")!.upperBound...]
        return Int(rest.prefix { $0.isNumber })
    }

    /// The hit counter `xdp-filter status` shows for a filtered port.
    static func portHits(_ port: Int) throws -> Int? {
        let status = try Shell.run([xdpFilter, "status"]).stdout
        for line in status.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 3, fields[0] == Substring(String(port)) { return Int(fields[fields.count - 1]) }
        }
        return nil
    }

    /// A namespace with xdp-filter loaded on its host end (skb mode) for `body`; afterwards xdp-filter is unloaded,
    /// the bpffs pins the run made are removed (xdp-filter keeps its maps pinned after unload) and the namespace goes.
    static func withXDPFilter(tag: String, _ body: (NetnsFixture) throws -> Void) throws {
        let net = try NetnsFixture(tag: tag)
        defer { net.destroy() }
        let pins = BPFFSPins(BPFFSPins.xdpFilter + BPFFSPins.iproute2)
        defer { pins.removeNew() }
        let load = try Shell.run([xdpFilter, "load", net.hostInterface, "-m", "skb"])
        try #require(load.status == 0, "xdp-filter load: \(load.stderr)")
        defer { _ = try? Shell.run([xdpFilter, "unload", net.hostInterface]) }
        try body(net)
    }

    /// Sluice and xdp-filter on one veth. Where the kernel allows libxdp's dispatcher, both programs run in it:
    /// xdp-filter (priority 10) drops the datagrams to its filtered port, Sluice's redirect (priority 50) gets the
    /// rest, and xdp-filter is still there afterwards. Where the kernel refuses the dispatcher (freplace), Sluice
    /// refuses clearly and leaves xdp-filter alone. `scripts/kernel-vm.sh` runs this suite on Debian's stock kernel.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: xdpFilter), "xdp-filter (Debian xdp-tools) is not installed"))
    func nextToXDPFilter() throws {
        try Self.withXDPFilter(tag: "mf") { net in
            let (filtered, passed, dropped, allowed) = (7777, 7778, 30, 20)
            let rule = try Shell.run([Self.xdpFilter, "port", String(filtered)])
            try #require(rule.status == 0, "xdp-filter port: \(rule.stderr)")
            let before = try Self.status(net.hostInterface)
            let (status, output, traffic) = try Self.run(
                net, extra: ["--mode", "skb"],
                traffic: Self.udpTraffic(net, ports: [(filtered, dropped), (passed, allowed)]))
            if before.contains("xdp_dispatcher") {
                // libxdp's dispatcher is there: Sluice joins it, both programs see the traffic, xdp-filter stays.
                #expect(status == 0, "\(output)")
                #expect(output.contains("attached as a program of libxdp's dispatcher"), "\(output)")
                #expect(output.contains("xdpfilt"), "the note names the programs it shares with:\n\(output)")
                #expect(traffic.contains("sent"), "\(traffic)")
                let received = Self.totalReceived(output)
                // Every datagram xdp-filter allowed reached Sluice, and none it dropped did (a few unrelated frames,
                // such as an IGMP report, may come too).
                #expect(received.map { $0 >= allowed && $0 < allowed + 10 } == true, "rx \(String(describing: received)):\n\(output)")
                #expect(try Self.portHits(filtered).map { $0 >= dropped } == true, "xdp-filter's hit counter for \(filtered)")
                #expect(try Self.status(net.hostInterface).contains("xdpfilt"), "xdp-filter is still loaded")
                #expect(try !Self.status(net.hostInterface).contains("sluice_redirect"), "Sluice left the dispatcher")
            } else {
                // This kernel refused the dispatcher, so xdp-filter holds the interface alone: a clear refusal that
                // names the program, and xdp-filter is left as it was, still filtering.
                #expect(status != 0, "\(output)")
                #expect(output.contains("holds the interface without libxdp's dispatcher"), "\(output)")
                #expect(output.contains("xdpfilt"), "\(output)")
                #expect(try Self.status(net.hostInterface).contains("xdpfilt"), "xdp-filter is untouched")
            }
            #expect(!output.contains("Fatal error"), "\(output)")
        }
    }

    /// The id `xdp-loader status` shows for `program` in the interface's dispatcher.
    static func dispatcherProgramID(_ interface: String, _ program: String) throws -> UInt32? {
        for line in try status(interface).split(separator: "\n") where line.contains(" \(program) ") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let index = fields.firstIndex(of: Substring(program)), index + 1 < fields.count {
                return UInt32(fields[index + 1])
            }
        }
        return nil
    }

    /// `ctl redirect-reload` in multiprog mode, next to xdp-filter, under continuous traffic: the new redirect program
    /// joins the dispatcher on the running maps and the old one leaves, so every datagram reaches Sluice (none lost
    /// in the swap), the program id changes, xdp-filter stays, and the kernel-side counters still read.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: xdpFilter), "xdp-filter (Debian xdp-tools) is not installed"))
    func redirectReloadInTheDispatcher() throws {
        try Self.withXDPFilter(tag: "mr") { net in
            guard try Self.status(net.hostInterface).contains("xdp_dispatcher") else {
                let reason =
                    "this kernel refuses libxdp's dispatcher (its freplace programs), so there is no dispatcher to reload "
                    + "in; scripts/kernel-vm.sh runs this suite on Debian's stock kernel, where it runs"
                try Test.cancel(Comment(rawValue: reason))
            }
            let instance = try ControlLiveTests.Instance(
                net, object: try Repository.object("counters"), extra: ["--multiprog", "--mode", "skb"])
            defer { instance.stop() }
            let before = try #require(try Self.dispatcherProgramID(net.hostInterface, "sluice_redirect"))

            let count = 20_000
            let sender = try Shell.start([
                "ip", "netns", "exec", net.name, "/usr/bin/python3", "-c", ControlLiveTests.flood, net.hostAddress, "9999",
                String(count),
            ])
            defer { if sender.process.isRunning { sender.process.terminate() } }
            // Reload once frames are flowing.
            var deadline = Date().addingTimeInterval(30)
            while try instance.stats().live.total.rx.packets == 0 && Date() < deadline { usleep(20_000) }
            let replaced = try instance.ctl(["redirect-reload", LiveTestEnvironment.redirectProgram])
            let atReply = try instance.stats().live.total.rx.packets
            deadline = Date().addingTimeInterval(120)
            while sender.process.isRunning && Date() < deadline { usleep(20_000) }
            let sent = Int(sender.finish().stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1

            #expect(replaced.status == 0, "\(replaced.stderr)")
            #expect(replaced.stdout.contains("redirect program replaced (libxdp's dispatcher)"), "\(replaced.stdout)")
            let after = try #require(try Self.dispatcherProgramID(net.hostInterface, "sluice_redirect"))
            #expect(after != before, "the redirect program's id did not change (\(before))")
            #expect(replaced.stdout.contains("program id \(after)"), "\(replaced.stdout)")
            #expect(try Self.status(net.hostInterface).contains("xdpfilt"), "xdp-filter is still in the dispatcher")
            #expect(try Self.status(net.hostInterface).components(separatedBy: "sluice_redirect").count == 2,
                "exactly one Sluice redirect program is left in the dispatcher")

            #expect(sent == count)
            var stats = try instance.stats()
            deadline = Date().addingTimeInterval(10)
            while stats.live.total.rx.packets < UInt64(count) && Date() < deadline {
                usleep(50_000)
                stats = try instance.stats()
            }
            #expect(atReply < UInt64(count), "the swap finished after the traffic (\(atReply) of \(count) frames in)")
            #expect(stats.live.total.rx.packets == UInt64(count), "frames lost in the swap: \(stats.live.total.rx.packets) of \(count)")
            #expect(stats.live.socketTotal.rxDropped == 0)
            #expect(stats.live.kernelPass.count == 1, "the kernel-side pass counters still read after the swap")
        }
    }

    @Test func multiprogOnAFreeInterface() throws {
        let net = try NetnsFixture(tag: "mp")
        defer { net.destroy() }
        let pins = BPFFSPins(BPFFSPins.iproute2)  // libxdp's /sys/fs/bpf/xdp, if this run made it
        defer { pins.removeNew() }
        let (status, output, _) = try Self.run(net, extra: ["--multiprog", "--mode", "skb"], seconds: 2)
        if status == 0 {
            #expect(output.contains("attached as a program of libxdp's dispatcher"), "\(output)")
            #expect(output.contains("final statistics"), "\(output)")
            #expect(Self.totalReceived(output).map { $0 >= 3 } == true, "Sluice saw the pings:\n\(output)")
        } else {
            #expect(output.contains("cannot share '\(net.hostInterface)' through libxdp's dispatcher"), "\(output)")
        }
        // Either way nothing is left on the interface afterwards.
        #expect(try !net.hostHasXDP(), "an XDP program was left on \(net.hostInterface)")
        #expect(try Self.status(net.hostInterface).contains("No XDP program loaded"))
    }

    @Test func persistIsRefusedInMultiprogMode() throws {
        let net = try NetnsFixture(tag: "mq")
        defer { net.destroy() }
        let (status, output, _) = try Self.run(net, extra: ["--multiprog", "--persist"], seconds: 1)
        #expect(status != 0)
        #expect(output.contains("--persist needs Sluice's own bpf_link"), "\(output)")
        #expect(try !net.hostHasXDP())
    }
}
