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

    /// `sluice run` on the host end for `seconds`, with pings from the namespace in the middle; sluice's output and
    /// exit status, and the ping output.
    static func run(
        _ net: NetnsFixture, extra: [String] = [], seconds: Int = 3
    ) throws -> (status: Int32, output: String, ping: String) {
        let log = NSTemporaryDirectory() + "sluice-multiprog-\(UUID().uuidString).log"
        defer { unlink(log) }
        let object = try Repository.object("counters")
        let quoted = ([BenchCommandTests.sluice, "run", "--iface", net.hostInterface, "--duration", String(seconds)]
            + extra + [object]).map { "'" + $0 + "'" }.joined(separator: " ")
        let script = """
            \(quoted) > '\(log)' 2>&1 &
            pid=$!
            sleep 1.2
            ip netns exec \(net.name) ping -n -c 3 -i 0.2 -W 1 \(net.hostAddress) 2>&1
            wait $pid
            echo "sluice-status=$?"
            """
        let out = try Shell.run(["/bin/sh", "-c", script], timeoutSeconds: Double(seconds) + 20)
        let status = out.stdout.split(separator: "\n").last { $0.hasPrefix("sluice-status=") }
            .flatMap { Int32($0.dropFirst("sluice-status=".count)) } ?? -1
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", out.stdout)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: xdpFilter), "xdp-filter (Debian xdp-tools) is not installed"))
    func nextToXDPFilter() throws {
        let net = try NetnsFixture(tag: "mf")
        defer { net.destroy() }
        // xdp-filter keeps its maps pinned after unload; what this test made goes again (after the unload below).
        let pins = BPFFSPins(BPFFSPins.xdpFilter + BPFFSPins.iproute2)
        defer { pins.removeNew() }
        let load = try Shell.run([Self.xdpFilter, "load", net.hostInterface, "-m", "skb"])
        try #require(load.status == 0, "xdp-filter load: \(load.stderr)")
        defer { _ = try? Shell.run([Self.xdpFilter, "unload", net.hostInterface]) }
        let before = try Self.status(net.hostInterface)
        let (status, output, ping) = try Self.run(net, extra: ["--mode", "skb"])
        if before.contains("xdp_dispatcher") {
            // libxdp's dispatcher is there: Sluice joins it, frames reach Sluice, xdp-filter stays.
            #expect(status == 0, "\(output)")
            #expect(output.contains("attached as a program of libxdp's dispatcher"), "\(output)")
            #expect(output.contains("xdpfilt"), "the note names the programs it shares with:\n\(output)")
            #expect(!output.contains("rx 0 pkts"), "Sluice saw the pings:\n\(output)\n\(ping)")
            #expect(try Self.status(net.hostInterface).contains("xdpfilt"), "xdp-filter is still loaded")
        } else {
            // This kernel refused the dispatcher, so xdp-filter holds the interface alone: a clear refusal that
            // names the program, and xdp-filter is left as it was.
            #expect(status != 0, "\(output)")
            #expect(output.contains("holds the interface without libxdp's dispatcher"), "\(output)")
            #expect(output.contains("xdpfilt"), "\(output)")
            #expect(try Self.status(net.hostInterface).contains("xdpfilt"), "xdp-filter is untouched")
        }
        #expect(!output.contains("Fatal error"), "\(output)")
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
