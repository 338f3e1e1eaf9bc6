import Foundation
import Testing

@testable import Sluice

/// `sluice run` as a user starts it: from a directory that is not the source tree, with its safe defaults. Each test
/// makes its own namespace and veth pair, pings a bounded number of times, and removes everything in `defer`.
@Suite(.serialized, .enabled(if: LiveTestEnvironment.available, "\(LiveTestEnvironment.unavailableReason ?? "")"))
struct RunCommandLiveTests {
    /// Starts `sluice run` on the host end from `/`, pings the host from the namespace while it runs, and returns
    /// the ping output and sluice's output.
    fileprivate func runAndPing(_ net: NetnsFixture, extra: [String]) throws -> (ping: Shell.Output, sluice: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-run-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let object = try Repository.object("counters")
        let command =
            ["cd", "/", "&&", "exec", shellQuote(BenchCommandTests.sluice), "run", "--iface", net.hostInterface]
            + extra.map(shellQuote) + ["--duration", "4", shellQuote(object), ">", shellQuote(log), "2>&1"]
        // Sluice runs in the background for 4 s; the pings start once it says it runs (startup can be slow on a
        // loaded machine or in an emulated guest), so they fall inside that window.
        let script = """
            (\(command.joined(separator: " "))) &
            pid=$!
            tries=0
            while [ $tries -lt 300 ] && kill -0 $pid 2>/dev/null && ! grep -q 'Ctrl-C stops' \(shellQuote(log)); do
                sleep 0.1; tries=$((tries + 1))
            done
            ip netns exec \(net.name) ping -n -c 5 -i 0.2 -W 1 \(net.hostAddress)
            status=$?
            wait $pid
            exit $status
            """
        let ping = try Shell.run(["/bin/sh", "-c", script], timeoutSeconds: 60)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (ping, output)
    }

    private func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    @Test func passToTapAutoMakesPingWorkThroughSluiceFromAnyDirectory() throws {
        let net = try NetnsFixture(tag: "pa")
        defer { net.destroy() }
        let (ping, output) = try runAndPing(net, extra: ["--pass-to-tap", "auto"])
        #expect(ping.stdout.contains("5 received"), "ping through Sluice:\n\(ping.stdout)\nsluice:\n\(output)")
        let tap = TapDevice.automaticName(for: net.hostInterface)
        #expect(output.contains("through TAP device \(tap)"), "\(output)")
        #expect(output.contains("final statistics"), "\(output)")
        #expect(!output.contains("XDP_PASS frame(s) dropped"), "\(output)")
        #expect(!InterfaceInfo.exists(tap), "the TAP device goes away with sluice")
    }

    @Test func withoutATapPassedFramesAreReportedAsDropped() throws {
        let net = try NetnsFixture(tag: "pd")
        defer { net.destroy() }
        let (ping, output) = try runAndPing(net, extra: [])
        #expect(ping.stdout.contains(" 0 received"), "no TAP, so no reply:\n\(ping.stdout)")
        #expect(output.contains("warning: no --pass-to-tap"), "\(output)")
        #expect(output.contains("XDP_PASS frame(s) dropped"), "\(output)")
    }
}

extension RunCommandLiveTests {
    /// `run --filter udp`: the pings (ICMP, and ARP) do not match, so they are not run but handed to the kernel stack
    /// as XDP_PASS frames are (through the TAP device): ping still works, and they are counted as filtered out.
    @Test func framesTheFilterDoesNotMatchGoToTheStackAndAreCounted() throws {
        let net = try NetnsFixture(tag: "fl")
        defer { net.destroy() }
        let (ping, output) = try runAndPing(net, extra: ["--pass-to-tap", "auto", "--filter", "udp"])
        #expect(ping.stdout.contains("5 received"), "ping through Sluice:\n\(ping.stdout)\nsluice:\n\(output)")
        let line = output.split(separator: "\n").first { $0.contains("filtered out: ") }
        let count = line.flatMap { Int($0.split(separator: "filtered out: ")[1].prefix { $0.isNumber }) }
        #expect((count ?? 0) >= 5, "at least the 5 echo requests are filtered out:\n\(output)")
    }
}
