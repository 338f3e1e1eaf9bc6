import Foundation
import Sluice
import SluiceBench
import Testing

/// `sluice bench` from the command line: the output's shape on tiny runs (no timing assertions), and that the live
/// benchmark leaves no namespace or veth behind.
@Suite(.serialized) struct BenchCommandTests {
    /// The `sluice` executable next to the test bundle.
    static var sluice: String {
        var url = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        if !url.path.contains(".build") { url = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }
        while url.pathComponents.count > 1 {
            let candidate = url.deletingLastPathComponent().appendingPathComponent("sluice")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            url.deleteLastPathComponent()
        }
        return Repository.path(".build/debug/sluice")
    }

    /// Runs `sluice ARGS` from the repository root (the default program paths are relative to it).
    static func run(_ arguments: [String], timeout: Double = 120) throws -> Shell.Output {
        try Shell.run(
            ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", Repository.root, sluice] + arguments,
            timeoutSeconds: timeout)
    }

    @Test func offlineHumanTableNamesEveryMeasurement() throws {
        let object = try Repository.object("parse_bench")
        let out = try Self.run(["bench", object, "--packets", "200", "--repeat", "1"])
        #expect(out.status == 0, "\(out.stderr)")
        for field in [
            "ns/packet", "packets/s", "insn/packet", "ns/insn", "latency p50 / p99 / p99.9",
            "Sluice replay, no outputs", "verdicts: drop",
        ] {
            #expect(out.stdout.contains(field), "missing \(field) in:\n\(out.stdout)")
        }
        #expect(!out.stdout.contains("kernel JIT"), "no kernel figures without --against-kernel")
    }

    @Test func offlineJSONHasTheFiguresAndKernelRatios() throws {
        let object = try Repository.object("parse_bench")
        var arguments = ["bench", object, "--packets", "200", "--repeat", "1", "--json", "--synthetic", "mixed"]
        if Repository.isRoot { arguments.append("--against-kernel") }
        let out = try Self.run(arguments)
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any], "not JSON: \(out.stdout)")
        #expect(json["packets"] as? Int == 200)
        for key in [
            "nanosecondsPerPacket", "instructionsPerPacket", "packetsPerSecond", "latency", "verdicts",
            "replayPacketsPerSecond", "replayWithOutputsPacketsPerSecond",
        ] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let latency = try #require(json["latency"] as? [String: Any])
        #expect(Set(latency.keys) == ["p50", "p99", "p999", "max"])
        if Repository.isRoot {
            for key in [
                "kernelNanosecondsPerPacket", "ratioToKernel", "kernelPerPacketPathPacketsPerSecond", "replayRatio",
            ] {
                #expect(json[key] != nil, "missing \(key)")
            }
        }
    }

    @Test func offlineFromACaptureWithProgramOptions() throws {
        let object = try Repository.object("firewall")
        let out = try Self.run([
            "bench", object, "--pcap", Repository.path("pcaps/firewall.pcap"), "--maps",
            Repository.path("pcaps/firewall.maps.json"), "--repeat", "1", "--no-replay",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("packets of \(Repository.path("pcaps/firewall.pcap"))"))
        #expect(!out.stdout.contains("Sluice replay"), "--no-replay leaves replay out")
        let badMaps = try Self.run(["bench", object, "--maps", "/nonexistent/maps.json", "--packets", "10"])
        #expect(badMaps.status != 0)
        #expect(badMaps.stderr.contains("/nonexistent/maps.json"))
    }

    @Test func offlineBadInputIsAClearErrorNotACrash() throws {
        let missing = try Self.run(["bench", "/nonexistent/prog.o", "--packets", "10"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/prog.o"))
        let noObject = try Self.run(["bench", "--packets", "10"])
        #expect(noObject.status != 0)
        #expect(noObject.stderr.contains("PROG.o"))
        let bothSources = try Self.run(["bench", "x.o", "--pcap", "a.pcap", "--synthetic", "udp"])
        #expect(bothSources.status != 0)
        #expect(bothSources.stderr.contains("exclude"))
    }

    @Test(.enabled(if: LiveTestEnvironment.available, "\(LiveTestEnvironment.unavailableReason ?? "")"))
    func liveJSONHasBothReceiversAndCleansUp() throws {
        _ = LiveTestEnvironment.redirectProgram
        _ = try Repository.object("bench_txgen")
        _ = try Repository.object("parse_bench")
        let out = try Self.run(["bench", "live", "--duration", "0.3", "--rounds", "1", "--json"], timeout: 90)
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any], "not JSON: \(out.stdout)")
        let rounds = try #require(json["perRound"] as? [[String: Any]])
        #expect(Set(rounds.compactMap { $0["receiver"] as? String }) == ["sluice", "baseline"])
        for round in rounds {
            #expect((round["received"] as? Int ?? 0) > 0, "\(round)")
            for key in ["packetsPerSecond", "cpuNanosecondsPerPacket", "rxRingFull", "fillRingEmpty"] {
                #expect(round[key] != nil, "missing \(key)")
            }
        }
        #expect(json["ratio"] is Double)
        #expect(json["cpuRatio"] is Double)
        let namespace = try #require(json["namespace"] as? String)
        #expect(!BenchNetwork.exists(namespace: namespace), "namespace \(namespace) or its veth left behind")
    }

    @Test(.enabled(if: LiveTestEnvironment.available, "\(LiveTestEnvironment.unavailableReason ?? "")"))
    func liveHumanTableAndCleanupAfterSIGINT() throws {
        _ = LiveTestEnvironment.redirectProgram
        let process = try Shell.start(
            [
                "/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", Repository.root, Self.sluice, "bench", "live",
                "--duration", "5", "--rounds", "3",
            ])
        // Interrupt in the middle of the first measurement.
        var waited = 0
        while process.process.isRunning && !process.stderrSoFar.contains("round 1") && waited < 3000 {
            usleep(10_000)
            waited += 1
        }
        kill(process.process.processIdentifier, SIGINT)
        let out = process.finish()
        #expect(out.status == 128 + SIGINT, "\(out.stderr)")
        #expect(out.stdout.contains("ratio Sluice / baseline"))
        let names = out.stdout.split(separator: " ").filter { $0.hasPrefix("slb") && $0.hasSuffix("-h") }
        let interface = try #require(names.first.map { String($0.dropLast(2)) }, "no interface in:\n\(out.stdout)")
        #expect(!BenchNetwork.exists(namespace: interface), "namespace \(interface) or its veth left behind")
    }
}
